"""The sweep flow: ingest, validate and tokenize once; trials on Dask workers; the best trial (by its validation score)
evaluated on test, registered as challenger and put through the promotion gate. It only wires the steps."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from prefect import flow

from flows.gate import run_gate
from flows.registry_turn import registry_turn
from flows.retrain import ValidationFailed
from tasks.registry import tracking
from tasks.core.config import load_params
from tasks.core.errors import LmforgeError, describe_failure
from tasks.evaluate import evaluate
from tasks.card import card
from tasks.ingest import ingest
from tasks.core.preflight import check_writable
from tasks.register import register
from tasks.resolve import prepare_checkpoints
from tasks.hub.pins import pinned_overrides
from tasks.core.runtime import hold_lock
from tasks.sweep import TrialResult, open_study, remove_unchosen, selection_metric, trial
from tasks.tokenize import tokenize
from tasks.validate import failure_message, validate


@dataclass
class SweepSummary:
    sweep_id: str
    parent_run_id: str
    trials: list[TrialResult] = field(default_factory=list)
    best: TrialResult | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    model: str = ""
    model_name: str = ""
    model_version: str = ""
    verdict: str = ""


@flow(name="sweep")
def sweep(params_path: str = "params.yaml", overrides: list[str] | None = None) -> SweepSummary:
    """Run `sweep.trials` trials of params' search space; the task runner (DaskTaskRunner) decides where they run."""
    params = prepare_checkpoints(load_params(params_path, overrides or []))
    overrides = [*(overrides or []), *pinned_overrides(params)]  # every trial trains on the commit pinned here
    check_writable(params)
    tracking.check_server(params)
    with hold_lock(params.paths.lock, params.schedule.lock_timeout_s):
        parent = tracking.start_run(params, run_name="sweep")
        sweep_id = f"sweep-{uuid.uuid4().hex[:8]}"
        try:
            dataset = ingest(params)
            checks = validate(params, parent, dataset.data_version)
            if not checks.success:
                raise ValidationFailed(failure_message(checks))
            tokens = tokenize(params, dataset.data_version)
            open_study(params, sweep_id, create=True)
            futures = [trial.submit(params_path, overrides, tokens, sweep_id, parent, dataset.data_version)
                       for _ in range(params.sweep.trials)]
            results = sorted((future.result() for future in futures), key=lambda result: result.number)
            finished = [result for result in results if result.state == "complete"]
            if not finished:
                raise LmforgeError(f"sweep {sweep_id}: no trial finished ({'; '.join(r.summary() for r in results)}); "
                                   "widen sweep.space or turn sweep.pruning off.")
            maximize = selection_metric(params)[1]
            best = (max if maximize else min)(finished, key=lambda result: result.value)
            chosen = load_params(params_path, [*overrides, *best.overrides])
            evaluation = evaluate(chosen, best.model_path, best.run_id)
            with registry_turn(chosen):
                version = register(chosen, best.model_path, best.run_id, dataset.data_version, checks.success)
            decision, _ = run_gate(chosen, version, dataset.data_version, best.run_id)
            card(chosen, version.version)
        except BaseException as error:
            tracking.mark_failed(params, parent, describe_failure(error))
            raise
        tracking.set_tags(params, parent, {"sweep": sweep_id, "best_trial": best.number, "best_run_id": best.run_id,
                                           "outcome": "promoted" if decision.promoted else "rejected"})
        tracking.log_metrics(params, parent, {f"best_{selection_metric(params)[0]}": best.value})
        tracking.end_run(params, parent)
        remove_unchosen(params, sweep_id, results, best)
        return SweepSummary(sweep_id, parent, results, best, evaluation.metrics,
                            f"{version.name} version {version.version} @{version.alias}",
                            f"{'promoted' if decision.promoted else 'rejected'}: {decision.reason}",
                            version.name, str(version.version))

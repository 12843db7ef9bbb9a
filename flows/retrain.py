"""The retraining flow: ingest, validate, tokenize, train, evaluate, register, promote. It only wires the steps."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from prefect import flow
from prefect.states import Completed

from flows.gate import run_gate
from flows.registry_turn import registry_turn
from tasks.registry import tracking
from tasks.core.config import load_params
from tasks.core.errors import LmforgeError, describe_failure, redact
from tasks.card import card
from tasks.evaluate import evaluate
from tasks.export import summarize_export
from tasks.ingest import ingest
from tasks.core.preflight import check_writable
from tasks.promote import check_changes
from tasks.register import register
from tasks.report import report
from tasks.resolve import prepare_checkpoints
from tasks.core.runtime import collect_timings, hold_lock
from tasks.tokenize import tokenize
from tasks.train import train
from tasks.validate import failure_message, validate


class ValidationFailed(LmforgeError):
    """The dataset broke the expectation suite; the flow stops before tokenizing."""


@dataclass
class RunSummary:
    outcome: str
    data_version: str
    run_id: str
    tracking_uri: str
    trigger: str = "manual"
    data_push: str = ""
    validation: str = ""
    tokens: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    model_name: str = ""
    model_version: str = ""
    alias: str = ""
    verdict: str = ""
    baseline: str = ""
    champion: str = ""
    exports: str = ""
    card: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@flow(name="retrain")
def retrain(params_path: str = "params.yaml", overrides: list[str] | None = None, force: bool = False,
            trigger: str = "manual") -> RunSummary:
    """One retrain: a run whose data version and params equal an already trained version's ends as Skipped.
    `trigger` says what started it (manual, schedule, data change, drift); it goes on the MLflow run and the report."""
    params = prepare_checkpoints(load_params(params_path, overrides))  # Hub ids pinned to their commit
    check_writable(params)  # scheduled runs come here without the CLI's checks
    tracking.check_server(params)
    with hold_lock(params.paths.lock, params.schedule.lock_timeout_s):
        run_id = tracking.start_run(params)
        tracking.set_tags(params, run_id, {"trigger": trigger})
        with collect_timings() as seconds:
            try:
                dataset = ingest(params)
                if dataset.revision:  # the Hub commit or URL digest a remote source resolved to: lineage
                    tracking.set_tags(params, run_id, {"data_revision": dataset.revision})
                unchanged = None if force else check_changes(params, dataset.data_version)
                if unchanged:
                    summary = RunSummary(f"skipped: nothing changed since {unchanged}", dataset.data_version, run_id,
                                         redact(tracking.tracking_uri(params)), trigger, data_push=dataset.push_pending,
                                         model_name=params.registry.model_name)
                    tracking.set_tags(params, run_id, {"outcome": "skipped", "data_version": dataset.data_version})
                    tracking.end_run(params, run_id)
                    report(params, asdict(summary), None)
                    return Completed(name="Skipped", message=summary.outcome, data=summary)
                checks = validate(params, run_id, dataset.data_version)
                if not checks.success:
                    raise ValidationFailed(failure_message(checks))
                tokens = tokenize(params, dataset.data_version)
                model = train(params, tokens, run_id, dataset.data_version, reuse=not force)
                evaluation = evaluate(params, model.path, run_id)
                with registry_turn(params):
                    version = register(params, model.path, run_id, dataset.data_version, checks.success)
                # A version the rule rejects is exported only by hand (lmforge export N).
                decision, exported = run_gate(params, version, dataset.data_version, run_id)
                card_path = card(params, version.version)  # last: it shows the gate's verdict and the exports
            except BaseException as error:
                tracking.mark_failed(params, run_id, describe_failure(error))
                raise
        verdict = f"{'promoted' if decision.promoted else 'rejected'}: {decision.reason}"
        tracking.set_tags(params, run_id, {"outcome": "promoted" if decision.promoted else "rejected"})
        tracking.end_run(params, run_id)
        summary = RunSummary(
            "trained and " + ("promoted" if decision.promoted else "rejected"), dataset.data_version, run_id,
            redact(tracking.tracking_uri(params)), trigger, data_push=dataset.push_pending, validation=checks.summary(),
            tokens=f"cache key {tokens.cache_key} ({'reused' if tokens.reused else 'new'})",
            metrics=evaluation.metrics, model_name=version.name, model_version=version.version, alias=version.alias,
            verdict=verdict, baseline=decision.baseline, champion=decision.champion_after or "none", seconds=seconds,
            card=card_path,
            warnings=evaluation.warnings, exports=summarize_export(exported) if exported else
            f"none ({'export.enabled is false' if params.export.enabled is False else 'rejected by the rule'}; "
            "lmforge export VERSION)")
        report(params, asdict(summary), json.loads(Path(decision.path).read_text()) | {"by": decision.by})
        return summary

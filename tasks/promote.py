"""promote: score the new challenger and the current champion on the same test rows, apply the rule, record it.

The champion is re-scored on the new data version's test split (numbers from an older split are never compared),
unless its own evaluate already scored these very rows.
Talking to the registry is this step's job, so MLflow is used here directly.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tasks.core.config import Params
from tasks.core.faults import failpoint
from tasks.kinds import get_kind
from tasks.core.records import ModelVersion, Promotion
from tasks.core.runtime import run_entry, step


def promote_model(params: Params, challenger: ModelVersion, data_version: str, actor: str) -> Promotion:
    """Compare, decide, record; the champion alias moves only on a pass."""
    from tasks.registry import champion as registry_ops
    from tasks.registry import tracking
    from tasks.registry.predictions import fetch_run_predictions, read_predictions
    from tasks.registry.promotion_rule import decide

    client, rule, name = tracking.client(params), params.promote, params.registry.model_name
    test = pd.read_parquet(Path(params.paths.validated) / "test.parquet")
    current = registry_ops.current_champion(client, params)
    uris = {"challenger": f"models:/{name}/{challenger.version}"}
    if current is not None:
        uris["champion"] = f"models:/{name}/{current.version}"
    # evaluate already scored the challenger on these rows, and the champion too when it was trained on this data
    # version; a champion from an older data version is scored here, on the new test split.
    reused = {"challenger": read_predictions(params, challenger, len(test)),
              "champion": current and fetch_run_predictions(client, current, data_version, len(test))}
    metrics, significance_of = get_kind(params.task).score_models(params, test, uris, reused)
    significance = None if current is None or rule.significance.test == "none" else significance_of(params.project.seed)
    verdict = decide(rule, metrics["challenger"], metrics.get("champion"), significance)
    before = current and str(current.version)
    decision = {"time": registry_ops.now(), "by": actor, "kind": "automatic", "model_name": name,
                "data_version": data_version, "test_rows": len(test), "challenger_version": challenger.version,
                "champion_before": before, "champion_after": challenger.version if verdict.promoted else before,
                "verdict": "promoted" if verdict.promoted else "rejected", "reasons": verdict.reasons,
                "metrics": metrics, "deltas": verdict.deltas, "significance": verdict.significance,
                "predictions_reused": sorted(who for who in uris if reused.get(who) is not None),
                "rule": rule.model_dump(mode="json")}
    if verdict.promoted:
        history = registry_ops.champion_history(client, name)
        registry_ops.move_champion(client, params, challenger.version, [*history, challenger.version])
        failpoint("promote:moved")
    # The verdict last: a run stopped before it leaves the version undecided, which the next run does not take as
    # done (find_unchanged), rather than a "promoted" version that never got the alias.
    registry_ops.record_decision(client, params, challenger.version, decision, "promotion.json")
    return Promotion(promoted=verdict.promoted, reason="; ".join(verdict.reasons), champion_before=before,
                     champion_after=decision["champion_after"], deltas=verdict.deltas, path=params.paths.promotion,
                     by=actor)


def actor() -> str:
    """Who decided: the Prefect deployment when a schedule started the run, else the user."""
    from prefect.runtime import deployment, flow_run

    from tasks.registry.champion import user

    who = f"deployment {deployment.name}" if deployment.name else f"user {user()}"
    return f"{who} (flow run {flow_run.name})" if flow_run.name else who


@step
def check_changes(params: Params, data_version: str) -> str | None:
    """The version already trained on this data version with these params, if any: then there is nothing to do."""
    from tasks.registry import tracking
    from tasks.registry.champion import find_unchanged

    return find_unchanged(tracking.client(params), params, data_version)


@step
def promote(params: Params, challenger: ModelVersion, data_version: str) -> Promotion:
    return promote_model(params, challenger, data_version, actor())


def main(params: Params) -> None:
    from tasks.register import read_registered
    from tasks.registry.champion import user

    challenger = read_registered(params)
    result = promote_model(params, challenger, challenger.tags["data_version"], f"user {user()} (dvc repro)")
    print(json.dumps(result.__dict__, indent=1))


if __name__ == "__main__":
    run_entry(main)

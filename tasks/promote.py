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


def judge_challenger(params: Params, challenger: ModelVersion, data_version: str) -> dict:
    """Score both models on the same test rows, apply the rule and the slices: the decision, with nothing moved yet.
    Its verdict "promoted" is what the rule says; the serving check and approval may still turn it."""
    from tasks.registry import champion as registry_ops
    from tasks.registry import tracking
    from tasks.registry.baseline import judge_baseline
    from tasks.registry.predictions import fetch_run_predictions, read_predictions
    from tasks.registry.promotion_rule import decide
    from tasks.registry.slices import apply_slices

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
    kind = get_kind(params.task)
    metrics, significance_of, outputs = kind.score_models(params, test, uris, reused)
    significance = None if current is None or rule.significance.test == "none" else significance_of(params.project.seed)
    slices, slice_failures = score_slices(params, kind, test, outputs) if rule.slices else ([], [])
    baseline = judge_baseline(rule, metrics["challenger"], score_baseline(params, kind, test),
                              outputs.get("challenger"), params.project.seed)
    verdict = apply_slices(decide(rule, metrics["challenger"], metrics.get("champion"), significance, baseline), rule,
                           slices, slice_failures)
    return {"kind": "automatic", "model_name": name, "data_version": data_version, "test_rows": len(test),
            "challenger_version": challenger.version, "champion_before": current and str(current.version),
            "verdict": "promoted" if verdict.promoted else "rejected", "reasons": verdict.reasons,
            "metrics": metrics, "baseline": baseline, "deltas": verdict.deltas, "significance": verdict.significance,
            "predictions_reused": sorted(who for who in uris if reused.get(who) is not None), "slices": slices,
            "rule": rule.model_dump(mode="json")}


def finish_promotion(params: Params, challenger: ModelVersion, decision: dict, actor: str,
                     serving: dict | None = None, approval: dict | None = None) -> Promotion:
    """The serving check's and the approver's answers join the decision (a failed check, a rejection or a pause
    nobody answered rejects); on a pass the champion alias moves; the decision is recorded either way."""
    from tasks.registry import champion as registry_ops
    from tasks.registry import tracking
    from tasks.registry.baseline import describe_baseline

    client, name = tracking.client(params), params.registry.model_name
    decision = dict(decision)
    if serving is not None:
        decision["serving_check"] = serving
        if decision["verdict"] == "promoted" and not serving["passed"]:
            decision |= {"verdict": "rejected", "reasons": [f"serving check failed: {serving['reason']}"]}
    if approval is not None:
        decision["approval"] = approval
        if decision["verdict"] == "promoted" and approval["decision"] != "approved":
            decision |= {"verdict": "rejected", "reasons": [describe_approval(approval)]}
        elif decision["verdict"] == "promoted":
            decision["reasons"] = [*decision["reasons"], describe_approval(approval)]
        current = registry_ops.current_champion(client, params)
        now_champion = current and str(current.version)
        if decision["verdict"] == "promoted" and now_champion != decision["champion_before"]:
            decision |= {"verdict": "rejected", "reasons": [
                f"@{params.registry.champion_alias} moved from {decision['champion_before'] or 'none'} to "
                f"{now_champion or 'none'} while it waited for approval; the next run judges it against that one"]}
    # Not the model's fault: a check or a person that did not answer (or a moved champion). The next run on the same
    # data and params decides again instead of skipping (find_unchanged).
    decision["final"] = not (decision["verdict"] == "rejected" and (
        (serving is not None and not serving["passed"]) or
        (approval is not None and approval["decision"] in ("timed out", "not asked")) or
        decision["reasons"][0].startswith(f"@{params.registry.champion_alias} moved")))
    promoted, before = decision["verdict"] == "promoted", decision["champion_before"]
    decision |= {"time": registry_ops.now(), "by": actor, "champion_after": challenger.version if promoted else before}
    if promoted:
        history = registry_ops.champion_history(client, name)
        registry_ops.move_champion(client, params, challenger.version, [*history, challenger.version])
        failpoint("promote:moved")
    # The verdict last: a run stopped before it leaves the version undecided, which the next run does not take as
    # done (find_unchanged), rather than a "promoted" version that never got the alias.
    registry_ops.record_decision(client, params, challenger.version, decision, "promotion.json")
    return Promotion(promoted=promoted, reason="; ".join(decision["reasons"]), champion_before=before,
                     champion_after=decision["champion_after"], deltas=decision["deltas"], path=params.paths.promotion,
                     by=actor, baseline=describe_baseline(decision.get("baseline")))


def describe_approval(approval: dict) -> str:
    if approval["decision"] == "timed out":
        return f"nobody approved it within promote.approval_timeout_s ({approval['waited_s']:.0f} s)"
    if approval["decision"] == "not asked":
        return approval["reason"]
    return f"{approval['decision']} by {approval['by']}: {approval['reason']}"


def approval_required(params: Params, data_version: str) -> bool:
    """promote.approval is required, or feedback.requires_approval and this data version took feedback rows that the
    champion's did not (tasks/data/feedback_ledger.py approval_needed)."""
    from tasks.data.feedback_ledger import approval_needed, read_taken

    if params.promote.approval == "required" or not params.feedback.requires_approval:
        return params.promote.approval == "required"
    from tasks.registry import champion as registry_ops
    from tasks.registry import tracking

    current = registry_ops.current_champion(tracking.client(params), params)
    base = current and current.tags.get("data_version")
    return approval_needed(params, read_taken(params, data_version), read_taken(params, base) if base else None)


def promote_model(params: Params, challenger: ModelVersion, data_version: str, actor: str) -> Promotion:
    """Judge, check serving (promote.serving_check) when the rule says yes, then move the alias and record: the whole
    gate in one call, for DVC. The flow runs the same parts as tasks, with the export and the approval between them;
    DVC cannot pause for a person, so a required approval rejects here, saying how to promote."""
    decision = judge_challenger(params, challenger, data_version)
    if decision["verdict"] == "promoted" and approval_required(params, data_version):  # no server start for nothing
        why = ("promote.approval is required" if params.promote.approval == "required" else
               "feedback.requires_approval is true and the data took new fed-back rows")
        approval = {"decision": "not asked", "by": actor, "reason": f"{why} and dvc repro cannot "
                    "wait for a person: run `lmforge run`, which pauses for `lmforge approve`, or move it by hand "
                    f"with `lmforge promote {challenger.version} --reason TEXT`"}
        return finish_promotion(params, challenger, decision, actor, None, approval)
    serving = check_serving_of(params, challenger) if decision["verdict"] == "promoted" else None
    return finish_promotion(params, challenger, decision, actor, serving)


def check_serving_of(params: Params, challenger: ModelVersion) -> dict | None:
    """The serving check of the challenger (tasks/servers/serving_check.py), or None when it is turned off."""
    if not params.promote.serving_check.enabled:
        return None
    from tasks.servers.serving_check import check_serving

    return check_serving(params, challenger.version, *canned_requests(params, challenger))


def canned_requests(params: Params, challenger: ModelVersion) -> tuple[list[str], list[str] | None]:
    """The first rows of the test split as a client would send them, and the challenger's own outputs on them (from
    evaluate's predictions), when the kind's outputs can be compared."""
    from tasks.feedback import input_columns
    from tasks.registry.predictions import read_predictions
    from tasks.registry.pyfunc import INPUT_SEPARATOR

    test = pd.read_parquet(Path(params.paths.validated) / "test.parquet")
    kind = get_kind(params.task)
    columns = input_columns(params.task)
    rows = min(params.promote.serving_check.rows, len(test))
    # As requests look: a language model is sent a prompt, a chat model a conversation without its last answer.
    texts = kind.reference_inputs([INPUT_SEPARATOR.join(str(row[c]) for c in columns)
                                   for _, row in test.head(rows).iterrows()])
    # A kind without one expected output per row (causal_lm continues a prompt of its text) is checked for answers only.
    predicted = read_predictions(params, challenger, len(test)) if kind.REFERENCE_COLUMN else None
    return texts, predicted[:rows] if predicted is not None else None


def score_baseline(params: Params, kind, test: pd.DataFrame) -> tuple[str, dict[str, float]] | None:
    """The kind's trivial baseline on the test rows the models were scored on (its name and metrics), learnt from
    the same data version's training split; None when promote.beat_baseline turns the check off."""
    if not params.promote.beat_baseline:
        return None
    return kind.baseline_metrics(params, pd.read_parquet(Path(params.paths.validated) / "train.parquet"), test)


def score_slices(params: Params, kind, test: pd.DataFrame, outputs: dict[str, list[str]]) -> tuple[list, list]:
    """promote.slices over both models' outputs on the test rows: the table and the slices lost (tasks/registry/slices)."""
    from tasks.registry.slices import judge_slices

    primary = params.promote.primary_metric
    scorers = {who: kind.row_scorers(params, params.paths.model, test, rows)[primary] for who, rows in outputs.items()}
    return judge_slices(params.promote, test, scorers, kind.INPUT_KEYS[0].removesuffix("_column"), kind.REFERENCE_COLUMN)


def actor(params: Params) -> str:
    """Who decided: the Prefect deployment when a schedule started the run, and the identity it runs as."""
    from prefect.runtime import deployment, flow_run

    from tasks.registry.champion import acting

    who = f"deployment {deployment.name} as {acting(params)}" if deployment.name else acting(params)
    return f"{who} (flow run {flow_run.name})" if flow_run.name else who


@step
def check_changes(params: Params, data_version: str) -> str | None:
    """The version already trained on this data version with these params, if any: then there is nothing to do."""
    from tasks.registry import tracking
    from tasks.registry.champion import find_unchanged

    return find_unchanged(tracking.client(params), params, data_version)


@step
def judge(params: Params, challenger: ModelVersion, data_version: str) -> dict:
    return judge_challenger(params, challenger, data_version)


@step
def check_serving(params: Params, challenger: ModelVersion) -> dict | None:
    return check_serving_of(params, challenger)


@step
def promote(params: Params, challenger: ModelVersion, decision: dict, serving: dict | None,
            approval: dict | None = None) -> Promotion:
    return finish_promotion(params, challenger, decision, actor(params), serving, approval)


def main(params: Params) -> None:
    from tasks.register import read_registered
    from tasks.registry.champion import acting

    challenger = read_registered(params)
    result = promote_model(params, challenger, challenger.tags["data_version"], f"{acting(params)} (dvc repro)")
    print(json.dumps(result.__dict__, indent=1))


if __name__ == "__main__":
    run_entry(main)

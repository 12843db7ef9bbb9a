"""report: the run's outcome as a Prefect markdown artifact, so the flow run's page in the Prefect UI shows it."""

from __future__ import annotations

import re

from tasks.core.config import Params
from tasks.core.runtime import step


def table(rows: list[tuple[str, ...]]) -> str:
    head, *body = rows
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(str(cell).replace("|", "/") for cell in row) + " |" for row in body])


def metric_rows(decision: dict) -> list[tuple[str, ...]]:
    """Both models' test metrics side by side, with the challenger's delta."""
    metrics = decision.get("metrics") or {}
    challenger, champion = metrics.get("challenger", {}), metrics.get("champion", {})
    return [("metric (test split)", "challenger", "champion", "delta")] + [
        (name, f"{value:.4f}", f"{champion[name]:.4f}" if name in champion else "",
         f"{value - champion[name]:+.4f}" if name in champion else "") for name, value in challenger.items()]


def describe_serving(check: dict | None) -> str:
    if not check:
        return "not run"
    figures = f"{check.get('backend')}, p95 {check.get('p95_ms')} ms, agreement {check.get('agreement')}"
    return f"passed ({figures})" if check["passed"] else f"failed: {check['reason']}"


def slice_rows(slices: list[dict]) -> list[tuple[str, ...]]:
    """The per-slice gate's table: each slice's rows, both models' primary metric, and what the gate made of it."""
    judged = lambda entry: ("lost" if entry["regressed"] else "held") if entry["judged"] else "too few rows"
    return [("slice", "rows", "challenger", "champion", "delta", "gate")] + [
        (entry["slice"], str(entry["rows"]), f"{entry['challenger']:.4f}",
         f"{entry['champion']:.4f}" if "champion" in entry else "", f"{entry['delta']:+.4f}" if "delta" in entry else "",
         judged(entry) if "delta" in entry else "") for entry in slices]


def summary_markdown(summary: dict, decision: dict | None) -> str:
    """Outcome, lineage and metrics in markdown tables; the champion's numbers beside the challenger's when compared."""
    facts = [("", ""), ("outcome", summary.get("outcome", "")), ("started by", summary.get("trigger", "")),
             ("data version", f"`{summary['data_version']}`"),
             ("validation", summary.get("validation", "")),
             ("model", f"{summary['model_name']} version {summary['model_version']}" if summary.get("model_version") else "none"),
             ("MLflow run", f"`{summary.get('run_id', '')}`")]
    from tasks.registry.baseline import describe_baseline

    parts = ["# lmforge retrain", table(facts)]
    if decision:
        parts += [f"## Promotion: {decision['verdict']}",
                  table([("", ""), ("champion before", decision.get("champion_before") or "none"),
                         ("champion after", decision.get("champion_after") or "none"), ("decided by", decision["by"]),
                         ("baseline", describe_baseline(decision.get("baseline")) or "not recorded"),
                         ("serving check", describe_serving(decision.get("serving_check")))]),
                  "\n".join(f"- {reason}" for reason in decision["reasons"])]
        parts.append(table(metric_rows(decision)))
        if decision.get("slices"):
            parts += [f"### Slices ({decision['rule']['primary_metric']})", table(slice_rows(decision["slices"]))]
    elif summary.get("metrics"):
        parts.append(table([("metric (test split)", "value")] +
                           [(k.removeprefix("eval_"), f"{v:.4f}") for k, v in summary["metrics"].items()]))
    return "\n\n".join(parts)


@step
def report(params: Params, summary: dict, decision: dict | None) -> str:
    from prefect.artifacts import create_markdown_artifact

    key = re.sub(r"[^a-z0-9-]+", "-", f"{params.registry.model_name}-retrain".lower()).strip("-")
    create_markdown_artifact(markdown=summary_markdown(summary, decision), key=key,
                             description=f"lmforge retrain: {summary.get('outcome', '')}")
    return key

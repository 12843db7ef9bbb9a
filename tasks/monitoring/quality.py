"""What the monitor says about quality, beside drift: the task kind's validation checks on the logged inputs (Great
Expectations, as in validate), and live accuracy where labels came back (`lmforge feedback`) against the champion's
own test score."""

from __future__ import annotations

import pandas as pd

from tasks.core.config import Params

# Checks that compare rows with each other or need a label: not questions about one logged input.
NOT_PER_INPUT = {"columns", "duplicates", "leakage", "class_rows", "label_set"}


def check_inputs(params: Params, texts: list[str], columns: list[str], checks: list) -> dict[str, dict]:
    """Each check of `checks` (the kind's suite) that asks about one input, on the logged inputs split back into the
    kind's input `columns`: {check: {success, unexpected, rows}}, run by Great Expectations."""
    import tempfile
    from pathlib import Path

    from tasks.data.feedback import split_inputs
    from tasks.data.suite import run_suite

    frame = pd.DataFrame(split_inputs(texts, columns), columns=columns).assign(split="serve")
    expectations = []
    for check in checks:
        if check.name in NOT_PER_INPUT:
            continue
        for expectation in check.expectations(params, 1.0):
            if getattr(expectation, "column", None) in frame.columns:
                expectation.meta = {"check": check.name}
                expectations.append(expectation)
    if not expectations:
        return {}
    with tempfile.TemporaryDirectory() as docs:
        (result,) = run_suite({"inputs": frame}, {"inputs": expectations}, Path(docs))
    found: dict[str, dict] = {}
    for item in result["results"]:
        name = item["expectation_config"]["meta"]["check"]
        unexpected = int(item.get("result", {}).get("unexpected_count") or 0)
        entry = found.setdefault(name, {"success": True, "unexpected": 0, "rows": len(frame)})
        entry["success"] &= bool(item["success"])
        entry["unexpected"] = max(entry["unexpected"], unexpected)
    return found


def test_score(params: Params, version) -> float | None:
    """The champion's accuracy on its test split, as its training run logged it."""
    from tasks.registry import tracking

    try:
        return tracking.client(params).get_run(version.run_id).data.metrics.get("eval_accuracy")
    except Exception:  # noqa: BLE001 - a run gone from the store leaves the comparison out, not the monitor
        return None


def live_accuracy(params: Params, version, window: pd.DataFrame, alpha: float, target: str | None):
    """Accuracy of the window's answers that got a label back (in the feedback source's `target` column; None: the
    kind has no accuracy), with a Wilson interval, and a one-sided binomial test against the champion's test
    accuracy (p small: it answers worse in service than on its test split).
    Returns (quality record, TestResult) or (None, None) when no label came back."""
    from scipy.stats import binomtest

    from tasks.data.feedback import REQUEST_ID, read_feedback
    from tasks.monitoring.drift import TestResult

    labels = read_feedback(params.paths.feedback)
    if target is None or labels.empty:
        return None, None
    joined = window.merge(labels[[REQUEST_ID, target]], on=REQUEST_ID)
    if joined.empty:
        return None, None
    right = int((joined["output"].astype(str) == joined[target].astype(str)).sum())
    total = len(joined)
    interval = binomtest(right, total).proportion_ci(confidence_level=1 - alpha, method="wilson")
    reference = test_score(params, version)
    quality = {"metric": "accuracy", "value": right / total, "low": float(interval.low),
               "high": float(interval.high), "labelled": total, "test_value": reference}
    if reference is None:
        return quality, None
    p_value = binomtest(right, total, p=min(max(reference, 1e-9), 1 - 1e-9), alternative="less").pvalue
    return quality, TestResult(right / total, float(p_value), 0, total)

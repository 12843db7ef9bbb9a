"""The promotion rule, pure: both models' predictions on the same test rows in, a verdict with every reason out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tasks.core.config import LOWER_IS_BETTER, PromoteParams


@dataclass
class Verdict:
    promoted: bool
    reasons: list[str]
    deltas: dict[str, float] = field(default_factory=dict)
    significance: dict[str, float | str] = field(default_factory=dict)


def score_rows(name: str, y_true: np.ndarray, y_pred: np.ndarray, labels: list[str],
               classes: list[int] | None = None) -> np.ndarray:
    """One metric over the last axis: a scalar for (N,) rows, one value per resample for (R, N).

    The same definitions as scikit-learn's with zero_division=0, vectorised so that a bootstrap of 1,000 resamples
    costs milliseconds; predictions outside the label set (-1) are simply wrong.
    """
    if name == "accuracy":
        return (y_true == y_pred).mean(-1)
    kind, _, which = name.partition("_")
    # A macro metric averages over `classes` (default every label): a slice is scored over the classes it holds.
    classes = (range(len(labels)) if classes is None else classes) if which == "macro" else [labels.index(which)]
    scores = []
    for c in classes:
        tp = ((y_true == c) & (y_pred == c)).sum(-1)
        fp = ((y_true != c) & (y_pred == c)).sum(-1)
        fn = ((y_true == c) & (y_pred != c)).sum(-1)
        num, den = {"precision": (tp, tp + fp), "recall": (tp, tp + fn), "f1": (2 * tp, 2 * tp + fp + fn)}[kind]
        scores.append(np.divide(num, den, out=np.zeros(np.shape(num), dtype=float), where=den > 0))
    return np.mean(scores, axis=0)


def bootstrap_interval(difference: Callable[[np.ndarray], np.ndarray], rows: int, resamples: int, alpha: float,
                       seed: int) -> tuple[float, float]:
    """The (1 - alpha) interval of challenger minus champion; `difference` scores both on the same resampled rows."""
    picks = np.random.default_rng(seed).integers(0, rows, (resamples, rows))
    low, high = np.quantile(difference(picks), [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def mcnemar(y_true, champion, challenger) -> tuple[int, int, float]:
    """Exact McNemar: rows only the champion gets right, rows only the challenger gets right, two-sided p-value."""
    from scipy.stats import binomtest

    right_a, right_b = np.asarray(champion) == np.asarray(y_true), np.asarray(challenger) == np.asarray(y_true)
    only_champion, only_challenger = int((right_a & ~right_b).sum()), int((~right_a & right_b).sum())
    if only_champion + only_challenger == 0:
        return 0, 0, 1.0
    return only_champion, only_challenger, float(binomtest(only_challenger, only_champion + only_challenger, 0.5).pvalue)


def check_significance(rule: PromoteParams, rows: int, difference: Callable[[np.ndarray], np.ndarray], seed: int,
                       predictions: tuple | None = None) -> dict:
    """The paired check the rule asks for, as a record: what was run, its numbers, and whether it passed.

    `difference` maps (resamples, rows) indices to challenger-minus-champion scores; McNemar needs `predictions`,
    (y_true, champion, challenger), which only classification has.
    """
    test = rule.significance
    if test.test == "bootstrap":
        low, high = bootstrap_interval(difference, rows, test.resamples, test.alpha, seed)
        return {"test": "bootstrap", "alpha": test.alpha, "resamples": test.resamples, "ci_low": round(low, 6),
                "ci_high": round(high, 6), "passed": low > 0}
    if test.test == "mcnemar":
        only_champion, only_challenger, p = mcnemar(*predictions)
        return {"test": "mcnemar", "alpha": test.alpha, "only_champion_right": only_champion,
                "only_challenger_right": only_challenger, "p_value": round(p, 6),
                "passed": only_challenger > only_champion and p < test.alpha}
    return {"test": "none", "passed": True}


def classification_significance(rule: PromoteParams, y_true, champion, challenger, labels: list[str], seed: int) -> dict:
    y_true, champion, challenger = map(np.asarray, (y_true, champion, challenger))
    difference = lambda rows: score_rows(rule.primary_metric, y_true[rows], challenger[rows], labels) - \
        score_rows(rule.primary_metric, y_true[rows], champion[rows], labels)
    return check_significance(rule, len(y_true), difference, seed, (y_true, champion, challenger))


def decide(rule: PromoteParams, challenger: dict[str, float], champion: dict[str, float] | None,
           significance: dict | None = None, baseline: dict | None = None) -> Verdict:
    """Floors and the baseline (tasks/registry/baseline.judge_baseline's record), then (when there is a champion)
    improvement, guarded metrics and significance; every failure is named. A metric in LOWER_IS_BETTER (perplexity,
    loss) improves downwards and its floor is a ceiling."""
    better = lambda name, delta: -delta if name in LOWER_IS_BETTER else delta  # gain, positive when it got better
    failed = [f"{name} {challenger[name]:.6g} is {'above the ceiling' if name in LOWER_IS_BETTER else 'below the floor'} "
              f"{floor:.6g}" for name, floor in rule.floors.items() if better(name, challenger[name] - floor) < 0]
    checked = [baseline["reason"]] if baseline and baseline["checked"] else []
    failed += [] if not checked or baseline["beaten"] else checked
    if champion is None:
        cleared = ", ".join(f"{name} {challenger[name]:.4f} {'<=' if name in LOWER_IS_BETTER else '>='} {floor:.4f}"
                            for name, floor in rule.floors.items())
        reasons = failed or [f"first model: it clears every floor ({cleared})" if cleared else
                             "first model: no champion to beat and no floor set (promote.floors)", *checked]
        return Verdict(not failed, reasons)
    names = [rule.primary_metric, *(name for name in rule.guarded if name != rule.primary_metric)]
    deltas = {name: round(challenger[name] - champion[name], 6) for name in names}
    primary = rule.primary_metric
    gain = better(primary, deltas[primary])
    change = f"{primary} {champion[primary]:.4f} -> {challenger[primary]:.4f} ({deltas[primary]:+.4f})"
    if gain <= rule.min_improvement:
        failed.append(f"{change} is not an improvement of more than {rule.min_improvement:.4f}")
    for name, margin in rule.guarded.items():
        if -better(name, deltas[name]) > margin:
            worse = "rose" if name in LOWER_IS_BETTER else "dropped"
            failed.append(f"{name} {worse} by {abs(deltas[name]):.4f} ({champion[name]:.4f} -> {challenger[name]:.4f}), "
                          f"more than the allowed {margin:.4f}")
    if significance and not significance["passed"]:
        failed.append(f"the {primary} gain is not significant: {describe_significance(significance)}")
    passed = [change, *(f"{name} within {margin:.4f} of the champion" for name, margin in rule.guarded.items()),
              "floors met", *checked, *([describe_significance(significance)] if significance else [])]
    return Verdict(not failed, failed or passed, deltas, significance or {})


def describe_significance(result: dict) -> str:
    if result["test"] == "bootstrap":
        level = round(100 * (1 - result["alpha"]))
        return f"{level}% bootstrap CI of the difference [{result['ci_low']:+.4f}, {result['ci_high']:+.4f}]" + \
            (" lies above 0" if result["passed"] else " does not lie above 0")
    if result["test"] == "mcnemar":
        return (f"McNemar p={result['p_value']:.4g} ({result['only_challenger_right']} rows only the challenger gets "
                f"right, {result['only_champion_right']} only the champion; alpha {result['alpha']})")
    return "no significance test"

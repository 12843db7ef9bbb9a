"""The promotion rule on made-up predictions: every branch of the decision, and the vectorised metrics."""

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score

from tasks.core.config import PromoteParams
from tasks.registry.promotion_rule import classification_significance as check_significance
from tasks.registry.promotion_rule import decide, mcnemar, score_rows

LABELS = ["negative", "neutral", "positive"]
RULE = PromoteParams(floors={"f1_macro": 0.7})  # f1_macro, min improvement 0, accuracy may drop 0.01, bootstrap
BASE = {"f1_macro": 0.90, "accuracy": 0.90}


def test_vectorised_metrics_match_scikit_learn():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 3, 300), rng.integers(-1, 3, 300)
    ids = [0, 1, 2]
    assert score_rows("f1_macro", y_true, y_pred, LABELS) == pytest.approx(f1_score(y_true, y_pred, labels=ids, average="macro"))
    assert score_rows("recall_macro", y_true, y_pred, LABELS) == pytest.approx(recall_score(y_true, y_pred, labels=ids, average="macro"))
    assert score_rows("precision_neutral", y_true, y_pred, LABELS) == pytest.approx(precision_score(y_true, y_pred, labels=[1], average="macro"))
    assert score_rows("accuracy", y_true, y_pred, LABELS) == pytest.approx((y_true == y_pred).mean())


def test_better_challenger_is_promoted():
    verdict = decide(RULE, {"f1_macro": 0.95, "accuracy": 0.94}, BASE, {"test": "none", "passed": True})
    assert verdict.promoted and verdict.deltas == {"f1_macro": 0.05, "accuracy": 0.04}
    assert "f1_macro 0.9000 -> 0.9500 (+0.0500)" in verdict.reasons[0]


def test_worse_and_equal_challengers_are_rejected_with_the_reason():
    worse = decide(RULE, {"f1_macro": 0.85, "accuracy": 0.85}, BASE)
    assert not worse.promoted
    assert any("is not an improvement" in r for r in worse.reasons)
    assert any(r.startswith("accuracy dropped by 0.0500") for r in worse.reasons)
    equal = decide(RULE, dict(BASE), BASE)
    assert not equal.promoted and equal.reasons == ["f1_macro 0.9000 -> 0.9000 (+0.0000) is not an improvement of more than 0.0000"]


def test_first_model_needs_the_floors():
    assert decide(RULE, {"f1_macro": 0.75, "accuracy": 0.7}, None).promoted
    low = decide(RULE, {"f1_macro": 0.65, "accuracy": 0.7}, None)
    assert not low.promoted and low.reasons == ["f1_macro 0.65 is below the floor 0.7"]


def test_regression_on_a_guarded_metric_blocks_a_better_primary():
    verdict = decide(RULE, {"f1_macro": 0.93, "accuracy": 0.88}, BASE)
    assert not verdict.promoted
    assert verdict.reasons == ["accuracy dropped by 0.0200 (0.9000 -> 0.8800), more than the allowed 0.0100"]


def test_min_improvement_is_a_margin():
    rule = PromoteParams(min_improvement=0.02)
    assert not decide(rule, {"f1_macro": 0.91, "accuracy": 0.91}, BASE).promoted
    assert decide(rule, {"f1_macro": 0.93, "accuracy": 0.91}, BASE).promoted


def paired(n: int, champion_right: float, challenger_right: float, seed: int = 1):
    """Predictions on n rows where each model is right on a given share (independently)."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 3, n)
    wrong = lambda share: np.where(rng.random(n) < share, y_true, (y_true + 1) % 3)
    return y_true, wrong(champion_right), wrong(challenger_right)


def test_small_gain_on_few_rows_is_not_significant():
    # 60 rows: 2 only the champion gets right, 4 only the challenger: better, but that could be chance.
    y_true = np.arange(60) % 3
    right = lambda rows: np.array([t if i in rows else (t + 1) % 3 for i, t in enumerate(y_true)])
    champion, challenger = right(range(0, 48)), right(range(2, 52))
    metrics = {who: {name: float(score_rows(name, y_true, p, LABELS)) for name in ("f1_macro", "accuracy")}
               for who, p in (("champion", champion), ("challenger", challenger))}
    assert metrics["challenger"]["f1_macro"] > metrics["champion"]["f1_macro"]
    significance = check_significance(RULE, y_true, champion, challenger, LABELS, seed=0)
    assert significance["ci_low"] < 0 < significance["ci_high"] and not significance["passed"]
    verdict = decide(RULE, metrics["challenger"], metrics["champion"], significance)
    assert not verdict.promoted
    assert verdict.reasons == [f"the f1_macro gain is not significant: 95% bootstrap CI of the difference "
                               f"[{significance['ci_low']:+.4f}, {significance['ci_high']:+.4f}] does not lie above 0"]
    mcnemar_rule = PromoteParams(significance={"test": "mcnemar"})
    assert not check_significance(mcnemar_rule, y_true, champion, challenger, LABELS, seed=0)["passed"]


def test_large_gain_on_many_rows_is_significant_for_both_tests():
    y_true, champion, challenger = paired(2000, 0.70, 0.85)
    assert check_significance(RULE, y_true, champion, challenger, LABELS, seed=0)["ci_low"] > 0.1
    only_champion, only_challenger, p = mcnemar(y_true, champion, challenger)
    assert only_challenger > only_champion and p < 1e-6
    assert check_significance(PromoteParams(significance={"test": "mcnemar"}), y_true, champion, challenger, LABELS, 0)["passed"]


def test_mcnemar_against_scipy_known_value():
    # 10 rows only the champion gets right, 25 only the challenger: exact two-sided binomial p = 0.01666...
    y_true = np.zeros(35, dtype=int)
    champion = np.array([0] * 10 + [1] * 25)
    challenger = np.array([1] * 10 + [0] * 25)
    assert mcnemar(y_true, champion, challenger) == (10, 25, pytest.approx(0.016665, abs=1e-5))


def test_perplexity_improves_downwards_and_its_floor_is_a_ceiling():
    rule = PromoteParams(primary_metric="perplexity", guarded={"loss": 0.05}, floors={"perplexity": 20.0})
    champion = {"perplexity": 12.0, "loss": 2.4849}
    lower = decide(rule, {"perplexity": 10.0, "loss": 2.3026}, champion)
    assert lower.promoted and lower.deltas["perplexity"] == -2.0, lower.reasons
    higher = decide(rule, {"perplexity": 13.0, "loss": 2.5649}, champion)
    assert not higher.promoted
    assert any("not an improvement" in reason for reason in higher.reasons)
    assert any("loss rose by 0.0800" in reason for reason in higher.reasons), higher.reasons
    assert decide(rule, {"perplexity": 19.0, "loss": 2.94}, None).promoted
    above = decide(rule, {"perplexity": 25.0, "loss": 3.2}, None)
    assert not above.promoted and "perplexity 25 is above the ceiling 20" in above.reasons[0]

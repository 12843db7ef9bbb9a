"""The per-slice gate, pure: rows cut by class, length and column; a challenger better overall that loses one slice
is rejected naming it; small slices are shown, not judged; bad slice params are refused by their dotted key."""

import pandas as pd
import pytest

from tasks.core.config import load_params
from tasks.core.errors import LmforgeError
from tasks.kinds import get_kind
from tasks.registry.promotion_rule import Verdict
from tasks.registry.slices import apply_slices, cut_rows, judge_slices
from tests.conftest import REPO

LABELS = ["negative", "neutral", "positive"]


def params_with(*overrides: str):
    return load_params(REPO / "params.yaml", ["data.labels=[negative, neutral, positive]", *overrides])


def rows() -> pd.DataFrame:
    """120 rows: 40 per class; a short and a long text alternate; a site column."""
    labels = [label for label in LABELS for _ in range(40)]
    texts = ["short one" if i % 2 else "a much longer text of twenty words " * 3 for i in range(120)]
    return pd.DataFrame({"text": texts, "label": labels, "site": ["a", "b", "c"] * 40})


def scorers(params, test, outputs):
    kind = get_kind("classification")
    return {who: kind.row_scorers(params, "", test, predicted)[params.promote.primary_metric]
            for who, predicted in outputs.items()}


def test_rows_are_cut_by_class_length_and_column():
    params = params_with("promote.slices=[{by: class}, {by: length, edges: [5]}]", "data.keep_columns=[site]")
    test = rows()
    by_class = cut_rows(test, params.promote.slices[0], "text", "label")
    assert list(by_class) == ["class=negative", "class=neutral", "class=positive"]
    assert all(len(found) == 40 for found in by_class.values())
    by_length = cut_rows(test, params.promote.slices[1], "text", "label")
    assert {name: len(found) for name, found in by_length.items()} == {"length <5 words": 60, "length >=5 words": 60}
    by_site = cut_rows(test, params_with("promote.slices=[{by: column, column: site}]",
                                         "data.keep_columns=[site]").promote.slices[0], "text", "label")
    assert list(by_site) == ["site=a", "site=b", "site=c"]


def test_a_challenger_better_overall_that_loses_one_class_is_rejected_naming_it():
    params = params_with("promote.slices=[{by: class}]", "promote.slice_tolerance=0.05")
    # On a class slice macro F1 is that class's F1 (the classes the slice holds): negative 1.0 -> 2*30/(2*30+10).
    test = rows()
    truth = test["label"].tolist()
    # The champion misses 12 positives; the challenger gets every positive and neutral but misses 10 negatives.
    champion = [("negative" if label == "positive" and i % 40 < 12 else label) for i, label in enumerate(truth)]
    challenger = [("neutral" if label == "negative" and i % 40 < 10 else label) for i, label in enumerate(truth)]
    outputs = {"challenger": challenger, "champion": champion}
    table, failed = judge_slices(params.promote, test, scorers(params, test, outputs), "text", "label")
    entry = {row["slice"]: row for row in table}
    assert entry["class=negative"]["regressed"] and not entry["class=positive"]["regressed"], table
    assert len(failed) == 1 and failed[0].startswith("slice class=negative (40 rows): f1_macro"), failed
    passed = Verdict(True, ["f1_macro 0.90 -> 0.92 (+0.02)"])
    verdict = apply_slices(passed, params.promote, table, failed)
    assert not verdict.promoted and verdict.reasons == failed
    held = apply_slices(passed, params.promote, table, [])
    assert held.promoted and held.reasons[-1].startswith("no slice lost more than 0.0500 of f1_macro (3 of 3")


def test_slices_below_the_minimum_are_shown_not_judged_and_a_first_model_is_not_judged():
    params = params_with("promote.slices=[{by: class}]", "promote.slice_min_rows=50")
    test = rows()
    truth = test["label"].tolist()
    worse = ["neutral" if label == "negative" else label for label in truth]
    table, failed = judge_slices(params.promote, test, scorers(params, test, {"challenger": worse, "champion": truth}),
                                 "text", "label")
    assert not failed and not any(row["judged"] for row in table) and table[0]["delta"] < 0
    first, _ = judge_slices(params.promote, test, scorers(params, test, {"challenger": truth}), "text", "label")
    assert all("champion" not in row and "delta" not in row for row in first)
    assert apply_slices(Verdict(True, ["first model"]), params.promote, first, []).reasons == ["first model"]


@pytest.mark.parametrize("overrides, message", [
    (["promote.slices=[{by: column, column: site}]"], r"promote\.slices\.0\.column .*'site' is not a column"),
    (["task=seq2seq", "data.source=builtin:numbers", "promote.primary_metric=bleu", "promote.guarded={}",
      "promote.floors={}", "promote.slices=[{by: class}]"], r"promote\.slices\.0\.by .*need task classification"),
    (["promote.slices=[{by: length, edges: [16, 8]}]"], r"promote\.slices\.0\.edges"),
    (["promote.slice_tolerance=-1"], r"promote\.slice_tolerance"),
    (["data.keep_columns=[text]"], r"data\.keep_columns .*text would replace the dataset's own column"),
])
def test_bad_slices_are_refused_at_load_by_their_dotted_key(overrides, message):
    with pytest.raises(LmforgeError, match=message):
        load_params(REPO / "params.yaml", overrides)


def test_a_kept_column_missing_from_the_source_is_one_sentence(tmp_path):
    from tasks.ingest import load_frames

    pd.DataFrame({"text": ["a b"], "label": ["x"]}).to_csv(tmp_path / "rows.csv", index=False)
    params = load_params(REPO / "params.yaml", [f"data.source={tmp_path / 'rows.csv'}", "data.keep_columns=[site]"])
    with pytest.raises(LmforgeError, match=r"no column 'site' to keep .*fix data\.keep_columns"):
        load_frames(params.data)
    pd.DataFrame({"text": ["a b"], "label": ["x"], "site": [3]}).to_csv(tmp_path / "rows.csv", index=False)
    (_, frame), = load_frames(params.data)
    assert frame.columns.tolist() == ["text", "label", "site"] and frame["site"].tolist() == ["3"]

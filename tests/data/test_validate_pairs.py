"""The pair suite for seq2seq: passes on good pairs, names each failed check on bad ones."""

import pandas as pd
import pytest

from tasks.core.config import load_params
from tasks.validate import validate_dataset
from tests.conftest import REPO

GOOD = {"train": [("room 4 needs 2 cups", "room four needs two cups"), ("bus 7 leaves", "bus seven leaves"),
                  ("order 3 pens", "order three pens")],
        "validation": [("page 9 lists 1 box", "page nine lists one box")],
        "test": [("we sold 5 cups", "we sold five cups"), ("room 8 needs 6 pens", "room eight needs six pens")]}


def run_suite(root, splits, *overrides, columns=("source", "target")):
    out = root / "data/seq2seq/dataset"
    out.mkdir(parents=True, exist_ok=True)
    for name, pairs in splits.items():
        frame = pd.DataFrame(pairs, columns=["source", "target"]).astype("str")
        frame.where(frame != "None").rename(columns=dict(zip(("source", "target"), columns))).to_parquet(out / f"{name}.parquet")
    params = load_params(REPO / "params.seq2seq.yaml", ["validate.max_text_chars=40", "validate.max_target_chars=60", *overrides])
    return validate_dataset(params)


def test_good_pairs_pass(root):
    report = run_suite(root, GOOD)
    assert report.success, report.failures
    assert report.evaluated >= 12


def with_train(*pairs):
    return GOOD | {"train": GOOD["train"] + list(pairs)}


@pytest.mark.parametrize("splits, overrides, expected", [
    (with_train(("bus 2 leaves", None)), [], "1 of 7 rows have no target (GX: expect_column_values_to_not_be_null(target))"),
    (with_train(("bus 2 leaves", "   ")), [], "rows have a target of only spaces (GX: expect_column_values_to_not_match_regex(target))"),
    (with_train(("x" * 45, "y" * 45)), [], "rows have a source shorter than 1 or longer than 40 characters (GX: expect_column_value_lengths_to_be_between(source))"),
    (with_train(("bus 2", "bus two " * 6)), ["validate.max_length_ratio=4"], "rows have a target/source length ratio outside 0.2 to 4.0 (GX: expect_column_values_to_be_between(length_ratio))"),
    (with_train(("same", "same"), ("same 2", "same 2")), ["validate.max_identical_share=0.2"], "expect_column_mean_to_be_between(identical)"),
    (with_train(GOOD["test"][0]), [], "rows are in both train and test (GX: expect_column_values_to_be_unique(pair))"),
])
def test_bad_pairs_are_named(root, splits, overrides, expected):
    report = run_suite(root, splits, *overrides)
    assert not report.success
    assert any(expected in line for line in report.failures), report.failures
    assert len(report.failures) == 1, report.failures


def test_missing_target_column_is_named(root):
    report = run_suite(root, GOOD, columns=("source", "english"))
    assert not report.success
    assert any(line.startswith("expect_column_to_exist(target): the column is missing") for line in report.failures)

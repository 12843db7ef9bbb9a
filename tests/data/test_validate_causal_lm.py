"""The text suite for causal_lm: passes on good texts, names each failed check on bad ones (no label checks)."""

import pandas as pd
import pytest

from tasks.core.config import load_params
from tasks.validate import validate_dataset
from tests.conftest import REPO

GOOD = {"train": ["mia had five pears.", "tom counted the stones: one, two.", "on monday ava went home."],
        "validation": ["leo has a cat called pip."],
        "test": ["zoe gave one to sam.", "on friday ida went to the market."]}


def run_suite(root, splits, *overrides, column="text"):
    out = root / "data/causal_lm/dataset"
    out.mkdir(parents=True, exist_ok=True)
    for name, texts in splits.items():
        frame = pd.DataFrame({"text": texts}).astype("str")
        frame.where(frame != "None").rename(columns={"text": column}).to_parquet(out / f"{name}.parquet")
    params = load_params(REPO / "params.causal_lm.yaml", ["validate.max_text_chars=60", *overrides])
    return validate_dataset(params)


def with_train(*texts):
    return GOOD | {"train": GOOD["train"] + list(texts)}


def test_good_texts_pass(root):
    report = run_suite(root, GOOD)
    assert report.success, report.failures
    assert report.evaluated >= 6


@pytest.mark.parametrize("splits, expected", [
    (with_train(None), "1 of 7 rows have no text (GX: expect_column_values_to_not_be_null(text)) [nulls]"),
    (with_train("   "), "rows have a text of only spaces (GX: expect_column_values_to_not_match_regex(text)) [blank]"),
    (with_train("x" * 61), "rows have a text shorter than 1 or longer than 60 characters (GX: "
                           "expect_column_value_lengths_to_be_between(text)) [text_length]"),
    (with_train(GOOD["train"][0]), "rows repeat another training row (GX: expect_column_values_to_be_unique(text)) "
                                   "[duplicates]"),
    (with_train(GOOD["test"][0]), "rows are in both train and test (GX: expect_column_values_to_be_unique(text)) "
                                  "[leakage]"),
])
def test_bad_texts_are_named(root, splits, expected):
    report = run_suite(root, splits)
    assert not report.success
    assert any(expected in line for line in report.failures), report.failures
    assert len(report.failures) == 1, report.failures


def test_blank_and_duplicate_rows_can_be_dropped(root):
    report = run_suite(root, with_train("   ", GOOD["train"][1]), "validate.policies={blank: drop, duplicates: drop}",
                       "validate.mostly={blank: 0.5, duplicates: 0.5}")
    assert report.success, report.failures
    assert report.dropped == {"blank": 1, "duplicates": 1}


def test_missing_text_column_is_named(root):
    report = run_suite(root, GOOD, column="story")
    assert not report.success
    assert any(line.startswith("expect_column_to_exist(text): the column is missing") for line in report.failures)

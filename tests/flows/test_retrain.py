"""The retrain flow end to end on a temporary project, through the CLI as a user runs it."""

from __future__ import annotations

import json

import pytest

from tests.conftest import invoke, registry

pytestmark = pytest.mark.flow


@pytest.fixture(scope="module")
def trained(prefect_harness, tmp_path_factory):
    """One real run of the flow on the fast params; the tests below read what it left."""
    from tests.conftest import FAST_PARAMS, make_project, working_in

    with working_in(make_project(tmp_path_factory.mktemp("flow") / "project", FAST_PARAMS)) as root:
        first = invoke("run")
        first.metrics = json.loads((root / "metrics/eval.json").read_text())
        # Same data, a few steps only: what matters here is the data version and the token cache.
        second = invoke("run", "--set", "train.max_steps=10")
        yield root, first, second


def test_flow_trains_a_model_above_threshold(trained):
    root, first, _ = trained
    assert first.exit_code == 0, first.output
    assert first.metrics["eval_f1_macro"] >= 0.85, first.metrics
    assert "lmforge run finished" in first.output and "@challenger" in first.output
    for word in ("data version", "validation", "f1_macro", "step times", "mlflow ui"):
        assert word in first.output.lower()


def test_same_data_gives_same_version_and_reuses_tokens(trained):
    _, first, second = trained
    assert second.exit_code == 0, second.output
    version_of = lambda out: next(line.split()[-1] for line in out.splitlines() if "data version" in line)
    assert version_of(first.output) == version_of(second.output)
    assert version_of(first.output).endswith(".dir")
    assert "(new)" in first.output and "(reused)" in second.output


def test_registry_holds_version_with_alias_and_lineage(trained):
    root, *_ = trained
    client = registry(root)
    version = client.get_model_version_by_alias("test-reviews", "challenger")
    assert str(version.version) == "2"
    for tag in ("data_version", "data_source", "git_commit", "params_hash", "lmforge_version", "validation_success"):
        assert version.tags[tag], tag
    assert version.tags["validation_success"] == "true"
    first = client.get_model_version("test-reviews", "1")
    assert first.tags["data_version"] == version.tags["data_version"]
    run = client.get_run(first.run_id)
    assert run.data.metrics["eval_f1_macro"] >= 0.85
    assert "train_loss" in run.data.metrics and "train_learning_rate" in run.data.metrics
    assert len(client.get_metric_history(first.run_id, "train_loss")) > 3
    assert run.data.params["train.epochs"]
    artifacts = {a.path for a in client.list_artifacts(first.run_id, "evaluation")}
    assert "evaluation/confusion_matrix.png" in artifacts
    assert {a.path for a in client.list_artifacts(first.run_id, "validation")} >= {"validation/report.json"}


def test_model_folder_describes_itself(trained):
    root, *_ = trained
    meta = json.loads((root / "data/model/lmforge.json").read_text())
    config = json.loads((root / "data/model/config.json").read_text())
    assert meta["labels"] == ["negative", "neutral", "positive"]
    assert config["label2id"] == {"negative": 0, "neutral": 1, "positive": 2}
    assert (root / "data/model/model.safetensors").is_file() and (root / "data/model/tokenizer.json").is_file()
    assert meta["params"]["train"]["max_steps"] == 10 and meta["data_version"]


def test_dataset_is_pushed_to_the_remote(trained):
    root, *_ = trained
    assert any((root / "data/remote").rglob("*")), "nothing was pushed to the DVC remote"


EXAMPLES = {"the screen is not bad at all": "positive", "the cable came in a blue box": "neutral",
            "although the case is great, the battery is awful": "negative", "i love the camera": "positive",
            "the speaker is terrible": "negative", "the manual was a gift for my brother": "neutral"}


def test_predict_answers_with_labels(trained, monkeypatch):
    root, *_ = trained
    monkeypatch.chdir(root)
    texts = list(EXAMPLES)
    (root / "texts.csv").write_text("text\n" + "\n".join(f'"{t}"' for t in texts[1:]) + "\n")
    result = invoke("predict", "--model", "models:/test-reviews/1", texts[0], "--file", "texts.csv")
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.output.strip().splitlines()]
    assert [text for *_, text in rows] == texts
    assert all(0 < float(score) <= 1 for _, score, _ in rows)
    # The tokenizer differs from run to run (upstream tokenizers#1794), so allow one miss, not more.
    assert sum(label == EXAMPLES[text] for label, _, text in rows) >= 5, rows
    default = invoke("predict", "the cable came in a blue box")  # models:/<name>@challenger from params
    assert default.exit_code == 0 and default.output.count("\t") == 2, default.output

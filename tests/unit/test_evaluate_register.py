import json

import pytest

from tasks.core.config import load_params
from tasks.evaluate import evaluate_model
from tasks.ingest import ingest_dataset
from tasks.validate import validate_dataset
from tasks.register import lineage_tags, register_model
from tasks.tokenize import tokenize_dataset
from tasks.train import train_model
from tests.conftest import REPO, registry


@pytest.fixture
def tiny_model(tmp_path, monkeypatch):
    """A model trained for a few steps: enough to score and register, not to be good."""
    monkeypatch.chdir(tmp_path)
    params = load_params(REPO / "params.yaml", ["data.sample.rows=300", "train.max_steps=8", "validate.min_rows_per_class=5",
                                                "registry.model_name=unit-reviews"])
    ingest_dataset(params)
    validate_dataset(params)  # writes the rows tokenize reads
    model = train_model(params, tokenize_dataset(params, "v1"), show_progress=False)
    return params, model


def test_evaluate_writes_metrics_and_confusion_matrix(tiny_model, tmp_path):
    params, model = tiny_model
    evaluation = evaluate_model(params, model.path, show_progress=False)
    saved = json.loads((tmp_path / "metrics/eval.json").read_text())
    assert saved == evaluation.metrics and saved["eval_rows"] == 45
    assert 0 <= saved["eval_f1_macro"] <= 1 and "eval_recall_neutral" in saved
    matrix = json.loads((tmp_path / "metrics/confusion_matrix.json").read_text())
    assert sum(map(sum, matrix["matrix"])) == 45 and matrix["labels"] == ["negative", "neutral", "positive"]
    assert (tmp_path / "metrics/confusion_matrix.png").stat().st_size > 1000


def test_register_tags_and_aliases_a_version(tiny_model, tmp_path):
    from tasks.registry import tracking

    params, model = tiny_model
    run_id = tracking.start_run(params)
    tags = lineage_tags(params, "abc.dir", True, run_id)
    version = register_model(params, model.path, run_id, tags)
    client = registry(tmp_path)
    stored = client.get_model_version_by_alias("unit-reviews", "challenger")
    assert str(stored.version) == version.version == "1"
    assert stored.tags["data_version"] == "abc.dir" and stored.tags["validation_success"] == "true"
    assert json.loads((tmp_path / "data/registered.json").read_text())["version"] == "1"
    import mlflow

    files = {path.name for path in __import__("pathlib").Path(mlflow.artifacts.download_artifacts(
        "models:/unit-reviews/1", dst_path=str(tmp_path / "downloaded"))).rglob("*")}
    # MLflow "models from code": loading runs lmforge's classifier.py, no pickled object is unpickled.
    assert "classifier.py" in files and not any(name.endswith(".pkl") for name in files), files


def test_a_registered_classifier_rescored_gives_evaluates_predictions(tiny_model, tmp_path):
    """promote re-scores a champion from an older data version through the registered pyfunc: the same labels."""
    import pandas as pd

    from tasks.registry import tracking
    from tasks.kinds.classification import predict_ids

    params, model = tiny_model
    evaluate_model(params, model.path, show_progress=False)
    expected = pd.read_parquet(tmp_path / "metrics/predictions.parquet")["predicted"].tolist()
    run_id = tracking.start_run(params)
    version = register_model(params, model.path, run_id, lineage_tags(params, "abc.dir", True, run_id))
    texts = pd.read_parquet(tmp_path / params.paths.validated / "test.parquet")["text"].tolist()
    labels = ["negative", "neutral", "positive"]
    rescored = predict_ids(params, f"models:/unit-reviews/{version.version}", texts, labels[::-1])
    assert [labels[::-1][i] for i in rescored] == expected


def test_failed_alias_leaves_no_version_behind(tiny_model, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from tasks.registry import tracking

    params, model = tiny_model

    def refuse(*args, **kwargs):
        raise RuntimeError("registry went away")

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", refuse)
    run_id = tracking.start_run(params)
    with pytest.raises(RuntimeError, match="went away"):
        register_model(params, model.path, run_id, lineage_tags(params, "abc.dir", True, run_id))
    assert registry(tmp_path).search_model_versions("name='unit-reviews'") == []


def test_under_dvc_the_model_run_comes_from_its_record_or_is_opened_anew(tiny_model, tmp_path):
    """A model folder DVC restored from its cache has no run.json: evaluate and register get a new run, named so;
    registered.json names no run (it differs every time), and read_registered finds it in the registry."""
    from tasks.core.run_record import RUN_RECORD, read_run_record
    from tasks.register import read_registered
    from tasks.registry import tracking

    params, model = tiny_model
    trained_in = read_run_record(model.path)
    (tmp_path / model.path / RUN_RECORD).unlink()  # as DVC restores it
    run_id = tracking.model_run(params)
    assert run_id and read_run_record(model.path)["run_id"] == run_id
    assert tracking.client(params).get_run(run_id).info.run_name.startswith("dvc-repro (model restored")
    assert tracking.model_run(params) == run_id, "the second step of the same stage set finds the same run"
    register_model(params, model.path, run_id, lineage_tags(params, "abc.dir", True, run_id))
    saved = json.loads((tmp_path / params.paths.registered).read_text())
    assert "run_id" not in saved and "run_id" not in saved["tags"] and trained_in.get("train_seconds") is not None
    assert read_registered(params).run_id == run_id

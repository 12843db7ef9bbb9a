import pytest

from tasks.config import load_params
from tasks.ingest import ingest_dataset
from tasks.tokenize import tokenize_dataset
from tasks.train import checkpoint_dir, read_model_meta, train_model
from tests.conftest import REPO


class Interrupted(Exception):
    pass


def test_interrupted_training_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = load_params(REPO / "params.yaml", ["data.sample.rows=300", "train.epochs=3", "train.batch_size=16",
                                                "train.early_stopping_patience=0", "validate.min_rows_per_class=5"])
    ingest_dataset(params)
    tokens = tokenize_dataset(params, "v1")

    def crash_in_second_epoch(metrics, step):
        # Epoch 2's evaluation is logged before epoch 2 is saved: only epoch 1's checkpoint exists.
        if "val_f1_macro" in metrics and metrics["train_epoch"] >= 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        train_model(params, tokens, on_log=crash_in_second_epoch, show_progress=False)
    saved = sorted(checkpoint_dir(params, tokens).glob("checkpoint-*"))
    assert len(saved) == 1
    first_epoch_steps = int(saved[0].name.split("-")[1])

    logged: list[int] = []
    model = train_model(params, tokens, on_log=lambda metrics, step: logged.append(step), show_progress=False)
    assert min(logged) > first_epoch_steps, "epoch 1 was trained again instead of resumed"
    assert model.steps == 3 * first_epoch_steps and model.epochs == 3
    assert not checkpoint_dir(params, tokens).exists(), "a finished run leaves no checkpoint to resume"
    assert read_model_meta(model.path)["labels"] == ["negative", "neutral", "positive"]

"""Data-parallel training (the scale tier): 2 torchrun processes with gloo train what 1 process trains, batch for batch."""

import pytest

from tasks.core.config import load_params
from tasks.kinds.classification.evaluate import predict_split
from tasks.ingest import ingest_dataset
from tasks.tokenize import tokenize_dataset
from tasks.training.checkpoints import read_model_meta
from tasks.train import train_model
from tasks.validate import validate_dataset
from tests.conftest import REPO, Interrupted, crash_in_second_epoch, working_in

pytestmark = pytest.mark.scale

# Same global batch (32 rows: 1 x 32, or 2 processes x 16), seed and steps. What still differs is the order in which
# floating-point sums run (per process, then gloo's average), so the losses agree closely but not to the last bit.
LOSS_TOLERANCE = 0.01  # relative, on the mean training loss over all steps


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    with working_in(tmp_path_factory.mktemp("ddp")):
        settings = ["data.sample.rows=600", "validate.min_rows_per_class=5", "train.max_steps=80", "train.epochs=20",
                    "train.early_stopping_patience=0", "model.from_scratch.dropout=0", "train.warmup_steps=4"]
        params = load_params(REPO / "params.yaml", settings)
        ingest_dataset(params)
        validate_dataset(params)
        tokens = tokenize_dataset(params, "v1")
        models = {}
        for nproc in (1, 2):
            run = load_params(REPO / "params.yaml", [*settings, f"train.distributed.nproc={nproc}",
                                                     f"paths.model=data/model-{nproc}"])
            model = train_model(run, tokens, show_progress=False)
            models[nproc] = (model, read_model_meta(model.path), predict_split(model.path, tokens.path, "test", 64, False))
        yield models


def test_two_processes_reach_the_loss_of_one(trained):
    (one, one_meta, _), (two, two_meta, _) = trained[1], trained[2]
    assert one.steps == two.steps == 80
    assert one_meta["processes"] == 1 and two_meta["processes"] == 2
    assert two_meta["train_loss"] == pytest.approx(one_meta["train_loss"], rel=LOSS_TOLERANCE), (one_meta, two_meta)
    assert two_meta["train_loss"] < 0.9  # it learned: 3 balanced classes start near ln 3 = 1.10


def test_the_model_two_processes_saved_loads_and_predicts_as_well_as_one(trained):
    """Accuracy, not row-by-row agreement: after 80 steps both are weak models whose best epochs (by validation F1)
    may differ, and weak models flip many near-tied rows."""
    truth, one_predicted, labels = trained[1][2]
    _, two_predicted, _ = trained[2][2]
    assert len(two_predicted) == len(truth) and set(two_predicted) <= set(range(len(labels)))
    one, two = (sum(a == b for a, b in zip(truth, predicted)) / len(truth) for predicted in (one_predicted, two_predicted))
    assert two > 0.45 and abs(one - two) <= 0.05, (one, two)  # 3 balanced classes: chance is 0.33


def test_ddp_resumes_a_checkpoint_and_stops_together_on_its_time_budget(tmp_path, monkeypatch, capfd):
    """A 1-process run interrupted after epoch 1 is resumed by 2 processes (nproc is not part of the training key),
    which then stop at one step when the budget runs out: a process that stopped alone would hang the other."""
    monkeypatch.chdir(tmp_path)
    settings = ["data.sample.rows=300", "validate.min_rows_per_class=5", "train.epochs=40", "train.batch_size=16",
                "train.early_stopping_patience=0", "train.time_budget_s=6"]  # the budget is part of the training key
    params = load_params(REPO / "params.yaml", settings)
    ingest_dataset(params)
    validate_dataset(params)
    tokens = tokenize_dataset(params, "v1")

    with pytest.raises(Interrupted):
        train_model(params, tokens, on_log=crash_in_second_epoch, show_progress=False)
    ddp = load_params(REPO / "params.yaml", [*settings, "train.distributed.nproc=2"])
    model = train_model(ddp, tokens, show_progress=False)
    meta = read_model_meta(model.path)
    resumed_at = model.steps - meta["steps_run"]
    # The steps before the checkpoint were not taken again: those of epoch 1 (240 training rows / 16).
    assert resumed_at == 15 and f"[resume] from checkpoint-{resumed_at}" in capfd.readouterr().err
    assert meta["processes"] == 2 and 15 < model.steps < 40 * 15, meta  # stopped by the budget, not by epochs

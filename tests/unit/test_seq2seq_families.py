"""Every encoder-decoder family of tests/families.py (T5, BART, Marian, mBART-50) and a warm-started BERT2BERT as a
seq2seq model: a tiny random-weight checkpoint (model.pretrained: its folder) tokenized and trained a few steps on the
built-in numbers by the kind's own tokenizer and trainer, exported (ONNX, int8 ONNX), its parity record checked and
the ONNX beam search answering as eager beam search does, the monitor's embeddings; then each family's quirk: T5's
input_prefix, where each family starts decoding, mBART-50's language codes. No MLflow, no flow.

`pytest -s` prints one line per family: its export verdicts and how many hypotheses each backend kept word for word."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.core.config import load_params
from tests.conftest import REPO
from tests.families import SEQ2SEQS, cached_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (tests/conftest.py)

WARM = "bert2bert"  # transformers' EncoderDecoderModel, warm-started from a BERT checkpoint (model.pretrained_encoder)
PREFIX = "numbers: "
SETTINGS = {"t5": [f"model.input_prefix='{PREFIX}'"], "mbart": ["model.source_lang=en_XX", "model.target_lang=de_DE"]}
SPLITS = {"train": 640, "validation": 16, "test": 24}  # 40 steps of 16 rows: one epoch, so one evaluation and save




@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("seq2seq-checkpoints")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, checkpoints):
    """family -> (params, model folder, test rows, its export record), each built once, on first use."""
    root = tmp_path_factory.mktemp("seq2seq-families")
    return cache(lambda family: train_and_export(family, checkpoints, root))


def family_params(family: str, checkpoint: Path, *extra: str):
    model = [f"model.pretrained_encoder={checkpoint}", "model.decoder_layers=1"] if family == WARM else \
        [f"model.pretrained={checkpoint}"]
    return load_params(REPO / "params.seq2seq.yaml", [
        *model, *SETTINGS.get(family, []), "train.max_steps=40", "train.batch_size=16", "train.warmup_steps=0",
        "train.learning_rate=0.02", "train.early_stopping_patience=0", "train.label_smoothing=0",
        "tokenize.max_length=32", "evaluate.max_new_tokens=16", "evaluate.batch_size=16", *extra])


def train_and_export(family: str, checkpoints: Path, root: Path):
    import torch
    from transformers import AutoTokenizer

    from tasks.core.records import TokenizedData
    from tasks.export import describe_error
    from tasks.kinds.seq2seq.builtin import generate_numbers
    from tasks.kinds.seq2seq.export import export_translator
    from tasks.kinds.seq2seq.tokenize import tokenize_pairs
    from tasks.kinds.seq2seq.train import seq2seq_trainer

    checkpoint = cached_checkpoint("bert" if family == WARM else family, checkpoints)
    params = family_params(family, checkpoint)
    rows, ends = generate_numbers(sum(SPLITS.values()), seed=3), np.cumsum([0, *SPLITS.values()])
    splits = {name: rows[ends[i]:ends[i + 1]].reset_index(drop=True) for i, name in enumerate(SPLITS)}
    tokenized, model_dir = root / family / "tokenized", root / family / "model"
    tokenize_pairs(splits, params, str(checkpoint), tokenized)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenized / "tokenizer"))
    tokens = TokenizedData(path=str(tokenized), cache_key=family, tokenizer_path=str(tokenized / "tokenizer"))
    torch.manual_seed(0)
    trainer = seq2seq_trainer(params, tokens, tokenizer, root / family / "checkpoints", [], False)
    trainer.train()
    trainer.save_model(str(model_dir))
    assert trainer.state.global_step == 40 and np.isfinite(trainer.state.log_history[-1]["train_loss"])
    test = splits["test"]
    record = export_translator(params, model_dir, model_dir, test["source"].tolist(), test["target"].tolist(),
                               describe_error)
    return params, model_dir, test, record


@pytest.mark.matrix  # trains and exports every family: make test-matrix
@pytest.mark.parametrize("family", [*SEQ2SEQS, WARM])
def test_each_family_exports_and_its_onnx_beam_search_answers_as_eager(family, trained):
    from tasks.export import summarize_export
    from tasks.kinds.seq2seq.evaluate import generate
    from tasks.kinds.seq2seq.onnx import OnnxTranslator
    from tasks.kinds.seq2seq.tokenize import load_pair_tokenizers
    from tasks.monitoring.signals import embed_texts
    from transformers import AutoModelForSeq2SeqLM

    params, model_dir, test, record = trained(family)
    print(f"\n{family:<10} {summarize_export(record)}  fp32 identical {record['onnx'].get('identical')}, int8 "
          f"identical {record['onnx-int8'].get('identical')}, BLEU eager {record['onnx'].get('bleu_eager')}")
    for backend in ("onnx", "onnx-int8"):
        assert record[backend]["status"] == "passed", record[backend]
        assert abs(record[backend]["bleu_diff"]) <= record["max_bleu_diff"]
    assert record["onnx"]["identical"] == 1.0, record["onnx"]  # fp32: the same search over the same numbers
    sources = test["source"].tolist()[:6]
    model = AutoModelForSeq2SeqLM.from_pretrained(str(model_dir)).eval()
    eager = generate(model, *load_pair_tokenizers(model_dir, params), sources, params)
    assert OnnxTranslator(model_dir, "onnx", params)(sources) == eager
    check_graphs_compute_the_model(model, model_dir, params, sources)
    vectors = embed_texts(model_dir, sources)
    assert vectors.shape[0] == len(sources) and np.isfinite(vectors).all() and vectors.std(0).max() > 0


def check_graphs_compute_the_model(model, model_dir: Path, params, sources: list[str]) -> None:
    """The encoder graph's states and the decoder step's log-probabilities, fed a decoded prefix token by token with
    its growing past, are eager PyTorch's own (teacher-forced over the whole prefix at once): a tiny model trained
    briefly may say one thing to every input, so identical hypotheses alone would not show that the graphs read the
    source."""
    import torch

    from tasks.kinds.seq2seq.onnx import DecoderState
    from tasks.kinds.seq2seq.tokenize import load_pair_tokenizers, prefix_sources
    from tasks.registry.backends import open_onnx_session

    tokenizer, _ = load_pair_tokenizers(model_dir, params)
    batch = tokenizer(prefix_sources(sources, params), padding=True, return_tensors="np", return_token_type_ids=False)
    ids, mask = batch["input_ids"].astype(np.int64), batch["attention_mask"].astype(np.int64)
    start = np.full((len(ids), 1), model.generation_config.decoder_start_token_id)
    prefix = np.concatenate([start, np.random.default_rng(0).integers(4, 100, (len(ids), 5))], 1)
    with torch.inference_mode():
        inputs = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
        states = model.get_encoder()(**inputs).last_hidden_state.numpy()
        expected = torch.log_softmax(model(**inputs, decoder_input_ids=torch.from_numpy(prefix)).logits, -1).numpy()
    encoded = open_onnx_session(model_dir / "encoder.onnx").run(None, {"input_ids": ids, "attention_mask": mask})
    assert np.abs(encoded[0] - states)[mask.astype(bool)].max() < 1e-4
    step = DecoderState(open_onnx_session(model_dir / "decoder.onnx"), encoded, mask, 1)
    for position in range(prefix.shape[1]):
        log_probs, tokens = step(prefix[:, position], np.arange(len(ids)))
        assert np.abs(np.take_along_axis(expected[:, position], tokens, 1) - log_probs).max() < 1e-4, position


@pytest.mark.parametrize("family,start", [("t5", "pad"), ("marian", "pad"), ("bart", "eos"), ("mbart", "eos")])
def test_each_family_starts_decoding_with_its_own_token(family, start, checkpoints):
    """T5 and Marian start from the pad token, BART and mBART from </s>: eager generate and the ONNX search's
    settings read the same decoder_start_token_id from the checkpoint."""
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from tasks.kinds.seq2seq.onnx import read_beam_settings

    folder = cached_checkpoint(family, checkpoints)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    expected = getattr(tokenizer, f"{start}_token_id")
    params = family_params(family, folder)
    assert read_beam_settings(folder, params).start_id == expected
    model = AutoModelForSeq2SeqLM.from_pretrained(str(folder)).eval()
    with torch.inference_mode():
        out = model.generate(**tokenizer(["room 4"], return_tensors="pt"), max_new_tokens=2, num_beams=1)
    assert out[0, 0] == expected


@pytest.mark.matrix  # trains and exports every family: make test-matrix
def test_input_prefix_reaches_tokenization_and_prediction_once(trained):
    """model.input_prefix stands before each source in the tokenized data and in what translate_batches (evaluate,
    predict, serve, export parity, promotion) feeds the model, once; it is part of tokenize's cache key."""
    from tasks.kinds.seq2seq.evaluate import translate_batches
    from tasks.kinds.seq2seq.tokenize import load_pair_tokenizers
    from tasks.tokenize import cache_key

    params, model_dir, test, _ = trained("t5")
    tokenizer, decoder = load_pair_tokenizers(model_dir, params)
    tokenized = pd.read_parquet(model_dir.parent / "tokenized" / "test.parquet")
    read = tokenizer.decode(tokenized["input_ids"][0], skip_special_tokens=True)
    assert read.startswith(PREFIX.strip()) and read.count(PREFIX.strip()) == 1, read
    echoed = translate_batches(tokenizer, decoder, test["source"].tolist()[:3], params, lambda batch: batch["input_ids"],
                               "np")  # the model's input as its output: what it was given, decoded
    assert all(text.startswith(PREFIX.strip()) and text.count(PREFIX.strip()) == 1 for text in echoed), echoed
    plain = load_params(REPO / "params.seq2seq.yaml", [f"model.pretrained={params.model.pretrained}"])
    assert cache_key(plain, "v1") != cache_key(params, "v1")


@pytest.mark.matrix  # trains and exports every family: make test-matrix
def test_mbart_language_codes_start_each_side_and_the_generated_text(trained):
    """mBART-50: en_XX starts each source, de_DE each target, and de_DE is the first token eager generate and the
    ONNX beam search produce (forced_bos_token_id), right after </s>."""
    import torch
    from transformers import AutoModelForSeq2SeqLM

    from tasks.kinds.seq2seq.languages import forced_start
    from tasks.kinds.seq2seq.onnx import OnnxTranslator
    from tasks.kinds.seq2seq.tokenize import load_pair_tokenizers

    params, model_dir, test, _ = trained("mbart")
    tokenizer, _ = load_pair_tokenizers(model_dir, params)
    source, target = (tokenizer.convert_tokens_to_ids(code) for code in ("en_XX", "de_DE"))
    tokenized = pd.read_parquet(model_dir.parent / "tokenized" / "train.parquet")
    assert {row[0] for row in tokenized["input_ids"]} == {source} and {row[0] for row in tokenized["labels"]} == {target}
    assert forced_start(tokenizer, params) == {"forced_bos_token_id": target}
    batch = tokenizer(test["source"].tolist()[:4], padding=True, return_tensors="np")
    model = AutoModelForSeq2SeqLM.from_pretrained(str(model_dir)).eval()
    with torch.inference_mode():
        eager = model.generate(**{k: torch.from_numpy(v) for k, v in batch.items()}, num_beams=4, max_new_tokens=8,
                               **forced_start(tokenizer, params))
    assert (eager[:, 0] == tokenizer.eos_token_id).all() and (eager[:, 1] == target).all()
    onnx = OnnxTranslator(model_dir, "onnx", params).generate_ids(batch)
    assert {row[0] for row in onnx} == {target}


@pytest.mark.parametrize("family,setting,message", [
    ("mbart", ["model.source_lang=en_XX", "model.target_lang=de_XY"],
     "model.target_lang: 'de_XY' is not a language code of this checkpoint's tokenizer (MBart50Tokenizer: "),
    ("mbart", ["model.target_lang=de_DE"], "model.source_lang is needed: this checkpoint's tokenizer marks"),
    ("t5", ["model.source_lang=en_XX"], "model.source_lang: this checkpoint's tokenizer (TokenizersBackend) marks no"),
])
def test_a_wrong_language_setting_is_one_sentence_naming_the_key(family, setting, message, checkpoints, tmp_path):
    from tasks.core.errors import LmforgeError
    from tasks.kinds.seq2seq.builtin import generate_numbers
    from tasks.kinds.seq2seq.tokenize import tokenize_pairs

    folder = cached_checkpoint(family, checkpoints)
    params = load_params(REPO / "params.seq2seq.yaml", [f"model.pretrained={folder}", *setting])
    rows = generate_numbers(40, seed=1)
    with pytest.raises(LmforgeError, match="^" + re.escape(message)):
        tokenize_pairs({"train": rows, "validation": rows, "test": rows}, params, str(folder), tmp_path / "tokenized")

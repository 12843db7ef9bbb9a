"""Pair tokenizers: shared BPE or one Unigram per side, digits one by one, ids that decode back to the text."""

import pandas as pd
import pytest

from tasks.core.config import load_params
from tasks.kinds.seq2seq.builtin import generate_numbers
from tasks.kinds.seq2seq.tokenize import TARGET_DIR, target_tokenizer, tokenize_pairs
from tests.conftest import REPO


@pytest.mark.parametrize("overrides", [["tokenize.algorithm=bpe", "tokenize.shared=true"],
                                       ["tokenize.algorithm=unigram", "tokenize.shared=false"]])
def test_pairs_tokenize_and_decode_back(root, overrides):
    from transformers import AutoTokenizer

    params = load_params(REPO / "params.seq2seq.yaml", ["tokenize.vocab_size=200", *overrides])
    frame = generate_numbers(300, seed=2)
    splits = {"train": frame[:200], "validation": frame[200:250], "test": frame[250:]}
    tokenize_pairs(splits, params, None, root)
    assert (root / TARGET_DIR).is_dir() == (not params.tokenize.shared)
    source_tok, target_tok = AutoTokenizer.from_pretrained(str(root / "tokenizer")), target_tokenizer(root)
    test = pd.read_parquet(root / "test.parquet")
    assert len(test) == 50 and set(test.columns) == {"input_ids", "labels"}
    first = splits["test"].iloc[0]
    assert source_tok.decode(test["input_ids"][0], skip_special_tokens=True) == first["source"]
    assert target_tok.decode(test["labels"][0], skip_special_tokens=True) == first["target"]
    assert test["labels"][0][-1] == target_tok.eos_token_id
    # Digits are single tokens, so that 342 is read as 3, 4, 2.
    assert source_tok.tokenize("room 342")[-3:] == ["3", "4", "2"]


def make_bert(folder, texts: list[str]):
    """A tiny BERT-style checkpoint (random weights, safetensors) with a WordPiece tokenizer learnt on texts."""
    import torch
    from transformers import BertConfig, BertModel

    from tasks.training.tokenizer_io import train_wordpiece

    tokenizer = train_wordpiece(texts, load_params(REPO / "params.yaml", ["tokenize.vocab_size=200"]))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=48, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=96, max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id)
    BertModel(config).save_pretrained(str(folder), safe_serialization=True)
    tokenizer.save_pretrained(str(folder))


def test_a_warm_started_encoder_decoder_learns_to_copy(root):
    """model.pretrained_encoder: both sides from a BERT checkpoint (the decoder gains cross-attention), its tokenizer
    for both, [CLS] starting a target only as the decoder's start token; trained briefly, it copies its inputs."""
    import torch

    from tasks.kinds.seq2seq.train import build_seq2seq

    pairs = pd.DataFrame({"source": ["red fox runs", "blue cat sits", "green owl flies", "old dog sleeps"]})
    pairs["target"] = pairs["source"]
    make_bert(root / "bert", pairs["source"].tolist() * 3)
    params = load_params(REPO / "params.seq2seq.yaml", [f"model.pretrained_encoder={root / 'bert'}"])
    tokenize_pairs({"train": pairs, "validation": pairs, "test": pairs}, params, str(root / "bert"), root / "tok")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(root / "tok" / "tokenizer"))
    labels = pd.read_parquet(root / "tok" / "train.parquet")["labels"].map(list)
    assert all(row[0] != tokenizer.cls_token_id and row[-1] == tokenizer.sep_token_id for row in labels)
    model = build_seq2seq(params, tokenizer, None)
    assert type(model).__name__ == "EncoderDecoderModel" and model.config.decoder.add_cross_attention
    assert model.generation_config.decoder_start_token_id == tokenizer.cls_token_id
    batch = tokenizer(pairs["source"].tolist(), padding=True, return_tensors="pt", return_token_type_ids=False)
    target = torch.nn.utils.rnn.pad_sequence([torch.tensor(row) for row in labels], batch_first=True, padding_value=-100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    torch.manual_seed(0)
    model.train()
    for _ in range(120):
        loss = model(**batch, labels=target).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    with torch.inference_mode():
        out = model.generate(**batch, max_new_tokens=8, num_beams=1)
    assert tokenizer.batch_decode(out, skip_special_tokens=True) == pairs["source"].tolist(), float(loss)


def test_a_warm_start_keeps_the_decoder_layers_asked_for_and_refuses_misuse(root):
    from tasks.core.errors import LmforgeError
    from tasks.kinds.seq2seq.train import build_seq2seq
    from transformers import AutoTokenizer

    make_bert(root / "bert", ["red fox runs", "blue cat sits"] * 5)
    params = load_params(REPO / "params.seq2seq.yaml", [f"model.pretrained_encoder={root / 'bert'}",
                                                         "model.decoder_layers=1", "train.freeze_encoder=true"])
    model = build_seq2seq(params, AutoTokenizer.from_pretrained(str(root / "bert")), None)
    assert len(model.decoder.bert.encoder.layer) == 1 and len(model.encoder.encoder.layer) == 2
    with pytest.raises(LmforgeError, match="train.freeze_encoder is invalid: only a pretrained or warm-started seq2seq encoder"):
        load_params(REPO / "params.seq2seq.yaml", ["train.freeze_encoder=true"])
    with pytest.raises(LmforgeError, match="model.pretrained_encoder is invalid: warm-starting builds a seq2seq model"):
        load_params(REPO / "params.yaml", [f"model.pretrained_encoder={root / 'bert'}"])

"""Pair tokenizers: shared BPE or one Unigram per side, digits one by one, ids that decode back to the text."""

import pandas as pd
import pytest

from tasks.config import load_params
from tasks.sample_pairs import generate_numbers
from tasks.tokenize_pairs import TARGET_DIR, target_tokenizer, tokenize_pairs
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

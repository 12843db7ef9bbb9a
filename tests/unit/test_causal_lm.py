"""causal_lm's pure cores: packing, perplexity and the unigram baseline worked by hand, the generator, the sign of the
significance check, and a LoRA fine-tune of a tiny saved GPT-2 (merged and kept apart)."""

import math

import numpy as np
import pandas as pd
import pytest

from tasks.core.config import PromoteParams, load_params
from tests.conftest import REPO

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (tests/conftest.py)




def test_packing_cuts_blocks_across_texts_and_keeps_the_remainder():
    from tasks.kinds.causal_lm.tokenize import pack_blocks

    eos = 9
    blocks = pack_blocks([[1, 2, 3, eos], [4, 5, eos], [6, eos]], block_size=3)
    # Texts run on across block boundaries; the last 1 token is a short block of its own, not dropped.
    assert blocks == [[1, 2, 3], [eos, 4, 5], [eos, 6, eos]]
    assert pack_blocks([[1, 2, eos], [3, eos]], block_size=4) == [[1, 2, eos, 3], [eos]]
    assert pack_blocks([], block_size=4) == []


def test_collate_masks_only_padding_not_end_of_text():
    from tasks.kinds.causal_lm.tokenize import collate_blocks

    # pad id 0 never reaches the loss; the EOS (id 0 here too, as GPT-2's pad = EOS) in a real position does.
    batch = collate_blocks([{"input_ids": [5, 0, 7]}, {"input_ids": [0]}])
    assert batch["input_ids"].tolist() == [[5, 0, 7], [0, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[5, 0, 7], [0, -100, -100]]


def test_uniform_logits_have_perplexity_of_the_vocabulary():
    import torch

    from tasks.decoders.scoring import perplexity_of, sequence_nll

    vocab = 7
    labels = torch.tensor([[1, 2, 3, 4, 5], [6, 0, 1, -100, -100]])
    nll, tokens = sequence_nll(torch.zeros(2, 5, vocab), labels)
    # Row 1 predicts 4 tokens, row 2 two (its padding is not scored); each costs ln 7.
    assert tokens.tolist() == [4, 2]
    assert nll.tolist() == pytest.approx([4 * math.log(7), 2 * math.log(7)])
    loss, perplexity = perplexity_of(float(nll.sum()), int(tokens.sum()))
    assert loss == pytest.approx(math.log(7)) and perplexity == pytest.approx(7.0)


def test_a_half_sure_model_has_perplexity_two():
    import torch

    from tasks.decoders.scoring import perplexity_of, sequence_nll

    # logits (ln 2, 0, 0) give the first token 2 / (2 + 1 + 1) = 1/2; every label is that token.
    logits = torch.tensor([[[math.log(2), 0.0, 0.0]] * 4])
    nll, tokens = sequence_nll(logits, torch.zeros(1, 4, dtype=torch.long))
    assert perplexity_of(float(nll.sum()), int(tokens.sum()))[1] == pytest.approx(2.0)


def test_unigram_baseline_by_hand():
    from tasks.kinds.causal_lm.metrics import unigram_perplexity

    # Train counts {0: 2, 1: 1}, vocabulary 3, add-one: p(0) = 3/6, p(1) = 2/6, p(2) = 1/6. The test block's first
    # token (5) is not predicted; 0 and 2 are: perplexity = (2 * 6) ** (1/2).
    assert unigram_perplexity([[0, 0, 1]], [[5, 0, 2]], vocab_size=3) == pytest.approx(math.sqrt(12))


def test_stories_are_deterministic_and_distinct():
    from tasks.kinds import causal_lm

    first = causal_lm.make_builtin("builtin:stories", 200, seed=3)
    assert list(first.columns) == ["text"] and len(first) == 200 and first["text"].is_unique
    pd.testing.assert_frame_equal(first, causal_lm.make_builtin("builtin:stories", 200, seed=3))
    assert not first.equals(causal_lm.make_builtin("builtin:stories", 200, seed=4))
    # Context decides words a unigram model cannot: the giver's count goes down by one.
    gave = next(text for text in first["text"] if " gave one to " in text)
    assert " now " + gave.split()[0] + " has " in gave


def test_significance_is_positive_when_the_challenger_is_better():
    from tasks.kinds.causal_lm.metrics import lm_significance

    rng = np.random.default_rng(0)
    tokens = rng.integers(10, 30, 200).astype(float)
    good, bad = tokens * rng.uniform(1.0, 1.2, 200), tokens * rng.uniform(2.0, 2.4, 200)  # nll per text
    words = tokens * 0.8
    for name in ("perplexity", "word_perplexity"):
        rule = PromoteParams(primary_metric=name, floors={}, guarded={})
        better = lm_significance(rule, {"challenger": (good, tokens), "champion": (bad, tokens)}, words, seed=1)
        assert better["passed"] and better["ci_low"] > 0, name
        worse = lm_significance(rule, {"challenger": (bad, tokens), "champion": (good, tokens)}, words, seed=1)
        assert not worse["passed"] and worse["ci_high"] < 0, name


def test_tokenize_packs_every_split_with_an_end_of_text_per_text(root):
    from transformers import AutoTokenizer

    from tasks.kinds import causal_lm

    params = load_params(REPO / "params.causal_lm.yaml", ["tokenize.vocab_size=300", "tokenize.block_size=16"])
    frame = causal_lm.make_builtin("builtin:stories", 60, seed=1)
    splits = {"train": frame[:40], "validation": frame[40:50], "test": frame[50:]}
    assert causal_lm.tokenize_splits(splits, params, None, root) == (None, "byte-level bpe")
    tokenizer = AutoTokenizer.from_pretrained(str(root / "tokenizer"))
    blocks = pd.read_parquet(root / "test.parquet")["input_ids"].map(list).tolist()
    assert all(len(block) == 16 for block in blocks[:-1]) and 1 <= len(blocks[-1]) <= 16
    stream = [token for block in blocks for token in block]
    assert stream.count(tokenizer.eos_token_id) == 10 and stream[-1] == tokenizer.eos_token_id
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert tokenizer.decode(stream[:stream.index(tokenizer.eos_token_id)]) == splits["test"]["text"].iloc[0]


def test_per_text_scores_sum_to_the_packed_blocks_perplexity(root):
    """Promotion scores registered models text by text; summed, that must be evaluate's number on the packed blocks."""
    from transformers import AutoTokenizer

    from tasks.kinds import causal_lm
    from tasks.kinds.causal_lm.tokenize import read_blocks
    from tasks.kinds.causal_lm.metrics import score_blocks, score_texts

    params = load_params(REPO / "params.causal_lm.yaml", ["tokenize.vocab_size=300", "tokenize.block_size=16"])
    frame = causal_lm.make_builtin("builtin:stories", 60, seed=2)
    causal_lm.tokenize_splits({"train": frame[:40], "validation": frame[40:50], "test": frame[50:]}, params, None, root)
    tokenizer = AutoTokenizer.from_pretrained(str(root / "tokenizer"))
    make_base(root / "base", tokenizer)
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(root / "base")).eval()
    nll, tokens = score_texts(model, tokenizer, frame[50:]["text"].tolist(), block_size=16, batch_size=4)
    total, count = score_blocks(model, read_blocks(root, "test"), batch_size=4)
    assert len(nll) == 10 and (tokens > 0).all()
    assert int(tokens.sum()) == count and float(nll.sum()) == pytest.approx(total, rel=1e-6)
    stream = sum((row["input_ids"] for row in read_blocks(root, "test")), [])
    assert count == len(stream) - 1, "every test token but the first is predicted, a block's first ones included"


def test_scoring_windows_predict_each_token_once():
    from tasks.kinds.causal_lm.tokenize import scoring_blocks, scoring_starts

    assert scoring_starts(10, 4) == [0, 3, 6] and scoring_starts(1, 4) == [0] and scoring_starts(0, 4) == []
    windows = scoring_blocks([{"input_ids": [1, 2, 3, 4]}, {"input_ids": [5, 6, 7, 8]}, {"input_ids": [9, 10]}])
    assert [w["input_ids"] for w in windows] == [[1, 2, 3, 4], [4, 5, 6, 7], [7, 8, 9, 10]]
    predicted = [token for window in windows for token in window["input_ids"][1:]]
    assert predicted == list(range(2, 11))


def test_bits_per_char_of_uniform_logits():
    """A model uniform over V tokens pays log2(V) bits a token: per character, that over the characters per token."""
    import numpy as np

    from tasks.kinds.causal_lm.metrics import char_counts, resampled_metric, text_perplexity, word_counts

    texts = ["abc", "defgh"]  # 3 + 1 and 5 + 1 characters with their ends of text
    tokens = np.array([4, 6])
    nll = tokens * math.log(16)
    chars = char_counts(texts)
    assert chars.tolist() == [4, 6]
    found = text_perplexity(nll, tokens, word_counts(texts), chars)
    assert found["bits_per_char"] == pytest.approx(4.0) and found["perplexity"] == pytest.approx(16.0)
    rows = np.array([[0, 0], [1, 1]])
    assert resampled_metric("bits_per_char", nll, tokens, word_counts(texts), rows, chars) == pytest.approx([4.0, 4.0])


def make_base(folder, tokenizer):
    """A tiny GPT-2 saved as a "pretrained" checkpoint (safetensors) with its tokenizer."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=128, n_embd=32, n_layer=2, n_head=2, n_inner=64,
                        eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.eos_token_id)
    GPT2LMHeadModel(config).save_pretrained(str(folder), safe_serialization=True)
    tokenizer.save_pretrained(str(folder))


def test_lora_fine_tune_lowers_validation_perplexity_merged_or_kept_apart(root):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed

    from tasks.kinds import causal_lm
    from tasks.decoders.tokenizer import train_byte_tokenizer
    from tasks.kinds.causal_lm.tokenize import read_blocks
    from tasks.kinds.causal_lm.evaluate import load_causal_lm
    from tasks.decoders.scoring import perplexity_of
    from tasks.kinds.causal_lm.metrics import score_blocks
    from tasks.decoders.build import LORA_MERGE_ATTR
    from tasks.core.records import TokenizedData

    frame = causal_lm.make_builtin("builtin:stories", 240, seed=2)
    splits = {"train": frame[:200], "validation": frame[200:220], "test": frame[220:]}
    base = root / "base"
    make_base(base, train_byte_tokenizer(splits["train"]["text"].tolist(), load_params(
        REPO / "params.causal_lm.yaml", ["tokenize.vocab_size=300"]).tokenize))
    params = load_params(REPO / "params.causal_lm.yaml", [
        f"model.pretrained={base}", "train.lora={r: 8, alpha: 32, dropout: 0.0, target_modules: [c_attn, c_fc]}",
        "tokenize.block_size=32", "train.epochs=2", "train.batch_size=16", "train.learning_rate=0.01",
        "train.warmup_steps=5", "evaluate.batch_size=32"])
    tokenized = root / "tokenized"
    tokenized.mkdir()
    causal_lm.tokenize_splits(splits, params, str(base), tokenized)
    validation = read_blocks(tokenized, "validation")
    before = perplexity_of(*score_blocks(load_causal_lm(base)[0], validation, 32))[1]

    set_seed(0)
    tokens = TokenizedData(path=str(tokenized), cache_key="k", tokenizer_path=str(tokenized / "tokenizer"))
    trainer = causal_lm.build_trainer(params, tokens, AutoTokenizer.from_pretrained(tokens.tokenizer_path), None,
                                      root / "checkpoints", [], False)
    trained = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    assert 0 < trained < sum(p.numel() for p in trainer.model.parameters()) / 2  # only the adapter trains
    trainer.train()

    setattr(trainer, LORA_MERGE_ATTR, False)  # kept apart first: merging changes the trainer's model in place
    causal_lm.save_model(trainer, root / "adapter")
    trainer.processing_class.save_pretrained(str(root / "adapter"))  # as train does beside every model
    kept_files = {p.name for p in (root / "adapter").iterdir()}
    assert {"adapter_model.safetensors", "adapter_config.json", "lmforge_base.json"} <= kept_files
    assert "model.safetensors" not in kept_files  # the adapter alone: its base is named, not copied
    kept = perplexity_of(*score_blocks(load_causal_lm(root / "adapter")[0], validation, 32))[1]

    setattr(trainer, LORA_MERGE_ATTR, True)
    causal_lm.save_model(trainer, root / "merged")
    assert not (root / "merged" / "adapter_config.json").exists()
    merged_model = AutoModelForCausalLM.from_pretrained(str(root / "merged"), use_safetensors=True).eval()
    assert not any("lora" in name for name, _ in merged_model.named_parameters())
    merged = perplexity_of(*score_blocks(merged_model, validation, 32))[1]

    assert merged < before * 0.9, (before, merged)
    assert kept == pytest.approx(merged, rel=1e-3)  # the adapter beside the base is the merged model
    torch.testing.assert_close(torch.tensor(kept), torch.tensor(merged), rtol=1e-3, atol=0)

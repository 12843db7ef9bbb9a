"""Scores of a causal language model: token negative log-likelihood, perplexity, and the unigram baseline.

Perplexity is exp(mean token cross-entropy) over every predicted token (each token given the ones before it), so
two models compare on the same tokens only when they share a tokenizer; the unigram baseline (add-one smoothed train
token frequencies, no context at all) is scored on exactly the tokens the model predicts, so "better than unigram"
is measured, not assumed.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from tasks.decoders.scoring import MAX_LOSS, perplexity_of, score_batches, token_losses

def unigram_nll(train_ids: list[list[int]], vocab_size: int):
    """A token's negative log-probability under add-one smoothed train token frequencies (no context at all): the
    baseline evaluate reports and the gate holds a model to (tasks/kinds/causal_lm/baseline.py)."""
    counts = Counter(token for row in train_ids for token in row)
    total = sum(counts.values()) + vocab_size
    return lambda token: -math.log((counts[token] + 1) / total)


def unigram_perplexity(train_ids: list[list[int]], test_ids: list[list[int]], vocab_size: int) -> float:
    """Perplexity of the unigram model on the test tokens each block's model predicts (all but its first token, as
    sequence_nll scores)."""
    nll_of = unigram_nll(train_ids, vocab_size)
    nll = [nll_of(token) for row in test_ids for token in row[1:]]
    return perplexity_of(sum(nll), len(nll))[1]


def score_blocks(model, blocks: list[dict], batch_size: int) -> tuple[float, int]:
    """(total nll, predicted tokens) over a split's packed blocks, every token after the first predicted once: what
    perplexity on a split is computed from."""
    from tasks.kinds.causal_lm.tokenize import collate_blocks, scoring_blocks

    blocks = scoring_blocks(blocks)
    nll, tokens = score_batches(model, (collate_blocks(blocks[start:start + batch_size])
                                        for start in range(0, len(blocks), batch_size)))
    return float(nll.sum()), int(tokens.sum())


def score_texts(model, tokenizer, texts: list[str], block_size: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per text (nll, predicted tokens) as evaluate scores a split: the texts packed as tokenize packs them, scored in
    the same windows, each predicted token credited to the text it belongs to. Summed, they give evaluate's
    perplexity exactly; and two models with different tokenizers still pair up text by text (promotion's paired
    bootstrap)."""
    import torch

    from tasks.kinds.causal_lm.tokenize import collate_blocks, encode_texts, scoring_starts

    sequences = encode_texts(tokenizer, texts)
    stream = [token for sequence in sequences for token in sequence]
    owner = np.array([i for i, sequence in enumerate(sequences) for _ in sequence], dtype=int)
    starts = scoring_starts(len(stream), block_size)
    nll, tokens = np.zeros(len(texts)), np.zeros(len(texts), dtype=int)
    with torch.inference_mode():
        for first in range(0, len(starts), batch_size):
            chunk = starts[first:first + batch_size]
            batch = collate_blocks([{"input_ids": stream[start:start + block_size]} for start in chunk])
            losses, _ = token_losses(model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits,
                                     batch["labels"])
            for row, start in enumerate(chunk):
                length = len(stream[start:start + block_size])
                texts_of = owner[start + 1:start + length]  # a window's first token is the last one's, scored there
                np.add.at(nll, texts_of, losses[row, :length - 1].double().numpy())
                np.add.at(tokens, texts_of, 1)
    return nll, tokens


def word_counts(texts: list[str]) -> np.ndarray:
    """Words per text, plus one for its end of text: what word perplexity divides by, the same whatever the tokenizer."""
    return np.array([len(str(text).split()) + 1 for text in texts], dtype=float)


def char_counts(texts: list[str]) -> np.ndarray:
    """Characters per text, plus one for its end of text: what bits per character divide by, whatever the tokenizer
    (and comparable with a character-level model, which predicts each separator as one character)."""
    return np.array([len(str(text)) + 1 for text in texts], dtype=float)


def bits_per_char(nll: float, chars: float) -> float:
    return nll / max(chars, 1) / math.log(2)


def text_perplexity(nll: np.ndarray, tokens: np.ndarray, words: np.ndarray,
                    chars: np.ndarray | None = None) -> dict[str, float]:
    """loss and perplexity of per-text scores pooled over tokens (not an average of per-text perplexities), word
    perplexity pooled over words, and bits per character: models with different tokenizers compare on the last two
    (on tokens they do not)."""
    loss, perplexity = perplexity_of(float(np.sum(nll)), int(np.sum(tokens)))
    word_perplexity = perplexity_of(float(np.sum(nll)), int(np.sum(words)))[1]
    found = {"perplexity": round(perplexity, 6), "loss": round(loss, 6), "word_perplexity": round(word_perplexity, 6)}
    if chars is not None:
        found["bits_per_char"] = round(bits_per_char(float(np.sum(nll)), float(np.sum(chars))), 6)
    return found


def resampled_metric(name: str, nll: np.ndarray, tokens: np.ndarray, words: np.ndarray, rows: np.ndarray,
                     chars: np.ndarray | None = None) -> np.ndarray:
    """loss, perplexity, word_perplexity or bits_per_char of each resample of the texts: rows is (resamples, n)
    text indices."""
    counts = {"word_perplexity": words, "bits_per_char": chars}.get(name, tokens)
    loss = nll[rows].sum(-1) / np.maximum(counts[rows].sum(-1), 1)
    if name == "bits_per_char":
        return loss / math.log(2)
    return loss if name == "loss" else np.exp(np.minimum(loss, MAX_LOSS))


def lm_significance(rule, scores: dict[str, tuple[np.ndarray, np.ndarray]], words: np.ndarray, seed: int,
                    chars: np.ndarray | None = None) -> dict:
    """The paired bootstrap over test texts of the primary metric. Every metric here is lower-is-better, so the
    difference is champion minus challenger: positive when the challenger is better, as check_significance expects
    (it passes when the whole interval lies above 0)."""
    from tasks.registry.promotion_rule import check_significance

    name = rule.primary_metric
    challenger, champion = scores["challenger"], scores["champion"]
    difference = lambda rows: resampled_metric(name, *champion, words, rows, chars) - \
        resampled_metric(name, *challenger, words, rows, chars)
    return check_significance(rule, len(challenger[0]), difference, seed)

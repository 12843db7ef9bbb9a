"""The causal_lm baseline: a unigram model (add-one smoothed training token frequencies, no context at all) scored
on exactly the test tokens the model predicts, with the model's tokenizer, pooled as promote pools the models
(loss, perplexity, word perplexity, bits per character)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tasks.core.config import Params

NAME = "a unigram model of the training tokens"


def unigram_scores(train_ids: list[list[int]], test_ids: list[list[int]],
                   vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per test text (nll, predicted tokens) under the unigram model; the stream's very first token is not predicted,
    as the model's scoring windows leave it (tasks/kinds/causal_lm/tokenize.scoring_starts)."""
    from tasks.kinds.causal_lm.metrics import unigram_nll

    nll_of = unigram_nll(train_ids, vocab_size)
    skipped = [1] + [0] * (len(test_ids) - 1)
    nll = np.array([sum(nll_of(token) for token in row[skip:]) for row, skip in zip(test_ids, skipped)], dtype=float)
    return nll, np.array([len(row) - skip for row, skip in zip(test_ids, skipped)], dtype=int)


def unigram_baseline(params: Params, train: pd.DataFrame, test: pd.DataFrame) -> tuple[str, dict[str, float]]:
    """The unigram model's metrics on the test texts, through the challenger's tokenizer (params.paths.model)."""
    from tasks.training.loading import load_trained_tokenizer

    from tasks.kinds.causal_lm.metrics import char_counts, text_perplexity, word_counts
    from tasks.kinds.causal_lm.tokenize import encode_texts, prepare_tokenizer

    tokenizer = prepare_tokenizer(load_trained_tokenizer(params.paths.model))
    texts = test["text"].astype(str).tolist()
    nll, tokens = unigram_scores(encode_texts(tokenizer, train["text"].astype(str).tolist()),
                                 encode_texts(tokenizer, texts), len(tokenizer))
    return NAME, text_perplexity(nll, tokens, word_counts(texts), char_counts(texts))

"""Question answering metrics and post-processing: SQuAD v1.1's exact match and token F1 (the official script's
normalisation, x100), and the best answer span of an example from the start/end logits of all its windows."""

from __future__ import annotations

import re
import string
from collections import Counter

import numpy as np

PUNCTUATION = set(string.punctuation)
ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD v1.1: lowercase, drop punctuation, drop the articles a/an/the, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in PUNCTUATION)
    return " ".join(ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(reference))


def token_f1(prediction: str, reference: str) -> float:
    """F1 of the normalised tokens both share (v1.1: 0 when none are shared, even if both are empty)."""
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(reference).split()
    same = sum((Counter(predicted) & Counter(expected)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(expected)
    return 2 * precision * recall / (precision + recall)


def row_scores(predictions: list[str], references: list[str]) -> dict[str, np.ndarray]:
    """Per question, x100: what a paired bootstrap resamples; their means are the corpus scores."""
    pairs = list(zip(predictions, references))
    return {"exact_match": np.array([100 * exact_match(p, r) for p, r in pairs], dtype=float),
            "f1": np.array([100 * token_f1(p, r) for p, r in pairs], dtype=float)}


def score_answers(predictions: list[str], references: list[str]) -> dict[str, float]:
    """Corpus exact match and F1 (x100, as the official script prints them); 0 for no rows."""
    return {name: round(float(scores.mean()) if len(scores) else 0.0, 4)
            for name, scores in row_scores(predictions, references).items()}


def best_span(start_logits, end_logits, offsets, max_answer_tokens: int) -> tuple[int, int, float] | None:
    """(first token, last token, log-probability) of the best span of one window: inside the context, end >= start,
    at most max_answer_tokens long; None when the window has no context token.

    The score is log softmax(start) + log softmax(end) over the window, so windows compare fairly: one that does not
    hold the answer puts its mass on [CLS] (as trained), which lowers every span of it; raw logit sums do not see that."""
    length = len(offsets)
    start = np.asarray(start_logits, dtype=float)[:length]
    end = np.asarray(end_logits, dtype=float)[:length]
    start, end = start - np.logaddexp.reduce(start), end - np.logaddexp.reduce(end)
    context = np.array([offset[0] >= 0 for offset in offsets])
    if not context.any():
        return None
    first, last = np.arange(length)[:, None], np.arange(length)[None, :]
    valid = context[:, None] & context[None, :] & (last >= first) & (last - first < max_answer_tokens)
    scores = np.where(valid, start[:, None] + end[None, :], -np.inf)
    i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return int(i), int(j), float(scores[i, j])


def pick_answers(examples: list[int], offsets: list, start_logits, end_logits, contexts: list[str],
                 max_answer_tokens: int) -> list[tuple[str, float]]:
    """(answer text, probability) per context: the best span over all windows of each example, cut from the context
    by its tokens' character offsets (so case and spacing are the context's own); ("", 0.0) when none fits."""
    best: dict[int, tuple[float, str]] = {}
    for window, example in enumerate(examples):
        found = best_span(start_logits[window], end_logits[window], offsets[window], max_answer_tokens)
        if found is None:
            continue
        i, j, score = found
        if example not in best or score > best[example][0]:
            best[example] = (score, contexts[example][offsets[window][i][0]:offsets[window][j][1]])
    return [(best[k][1], float(np.exp(best[k][0]))) if k in best else ("", 0.0) for k in range(len(contexts))]

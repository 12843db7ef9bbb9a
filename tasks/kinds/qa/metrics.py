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


def top_spans(start_logits, end_logits, offsets, max_answer_tokens: int, top: int = 1) -> list[tuple[int, int, float]]:
    """(first token, last token, log-probability) of the `top` best spans of one window, best first: inside the
    context, end >= start, at most max_answer_tokens long; none when the window has no context token.

    The score is log softmax(start) + log softmax(end) over the window, so windows compare fairly: one that does not
    hold the answer puts its mass on [CLS] (as trained), which lowers every span of it; raw logit sums do not see that."""
    length = len(offsets)
    start = np.asarray(start_logits, dtype=float)[:length]
    end = np.asarray(end_logits, dtype=float)[:length]
    start, end = start - np.logaddexp.reduce(start), end - np.logaddexp.reduce(end)
    context = np.array([offset[0] >= 0 for offset in offsets])
    if not context.any():
        return []
    first, last = np.arange(length)[:, None], np.arange(length)[None, :]
    valid = context[:, None] & context[None, :] & (last >= first) & (last - first < max_answer_tokens)
    scores = np.where(valid, start[:, None] + end[None, :], -np.inf)
    found = []
    for _ in range(min(top, int(valid.sum()))):
        i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
        found.append((int(i), int(j), float(scores[i, j])))
        scores[i, j] = -np.inf
    return found


def rank_answers(examples: list[int], offsets: list, start_logits, end_logits, contexts: list[str],
                 max_answer_tokens: int) -> list[tuple[str, float, float]]:
    """(answer text, log-probability, margin) per context: the best span over all windows of each example, cut from
    the context by its tokens' character offsets (so case and spacing are the context's own); the margin is how far
    its score lies above the best span of another text (from each window's two best spans; inf when there is none),
    what an int8 model's fallback reads (tasks.kinds.qa.spans). ("", -inf, inf) when no span fits."""
    candidates: dict[int, dict[str, float]] = {}
    for window, example in enumerate(examples):
        for i, j, score in top_spans(start_logits[window], end_logits[window], offsets[window], max_answer_tokens, 2):
            found = candidates.setdefault(example, {})
            text = contexts[example][offsets[window][i][0]:offsets[window][j][1]]
            # Ties keep the first window's span, as a strict comparison across windows did.
            found[text] = max(found.get(text, -np.inf), score)
    ranked = []
    for k in range(len(contexts)):
        texts = sorted(candidates.get(k, {}).items(), key=lambda item: -item[1])  # stable: ties keep their order
        if not texts:
            ranked.append(("", -np.inf, np.inf))
            continue
        (text, score), rest = texts[0], texts[1:]
        ranked.append((text, score, score - rest[0][1] if rest else np.inf))
    return ranked


def pick_answers(examples: list[int], offsets: list, start_logits, end_logits, contexts: list[str],
                 max_answer_tokens: int) -> list[tuple[str, float]]:
    """(answer text, probability) per context (rank_answers); ("", 0.0) when no span fits."""
    return [(text, float(np.exp(score))) for text, score, _ in
            rank_answers(examples, offsets, start_logits, end_logits, contexts, max_answer_tokens)]

"""Seq2seq metrics: corpus BLEU and chrF with sacreBLEU on detokenized text, ROUGE-1/2/L (F-measure, the mean over
sentences, x100) with Google's rouge-score, and per-sentence statistics that let a paired bootstrap recompute corpus
scores on resampled sentences without re-tokenizing."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

ROUGE = ("rouge1", "rouge2", "rougeL")


def scorers() -> dict:
    from sacrebleu.metrics import BLEU, CHRF

    return {"bleu": BLEU(), "chrf": CHRF()}


def corpus_scores(hyps: list[str], refs: list[str] | list[list[str]]) -> dict[str, float | str]:
    """{"bleu", "chrf"} on the whole corpus, with each metric's sacreBLEU signature, and ROUGE's three scores.

    `refs` is one reference per hypothesis, or several reference streams (each a list as long as `hyps`).
    """
    streams = refs if refs and isinstance(refs[0], list) else [refs]
    scores: dict[str, float | str] = {}
    for name, scorer in scorers().items():
        scores[name] = round(float(scorer.corpus_score(hyps, streams).score), 4)
        scores[f"{name}_signature"] = str(scorer.get_signature())
    rouge = rouge_stats(hyps, streams[0]).mean(axis=0) if hyps else np.zeros(len(ROUGE))
    return scores | {name: round(float(value), 4) for name, value in zip(ROUGE, rouge)}


@lru_cache(maxsize=1)
def rouge_scorer():
    # rouge-score's own tokenizer (lowercase, letters and digits only) and Porter stemming: the settings summarization
    # papers report; it reads English, like the stemmer.
    from rouge_score.rouge_scorer import RougeScorer

    return RougeScorer(list(ROUGE), use_stemmer=True)


def rouge_stats(hyps: list[str], refs: list[str]) -> np.ndarray:
    """(sentences, 3): each sentence's ROUGE-1, ROUGE-2 and ROUGE-L F-measure, x100."""
    scorer = rouge_scorer()
    rows = [scorer.score(ref, hyp) for hyp, ref in zip(hyps, refs)]
    return np.array([[row[name].fmeasure * 100 for name in ROUGE] for row in rows], dtype=float).reshape(-1, len(ROUGE))


def sentence_stats(name: str, hyps: list[str], refs: list[str]) -> np.ndarray:
    """(sentences, statistics): sacreBLEU's sufficient statistics of each sentence for metric `name`; for ROUGE, the
    sentence's F-measure and a 1, whose sums give the mean."""
    if name in ROUGE:
        scores = rouge_stats(hyps, refs)[:, ROUGE.index(name)]
        return np.stack([scores, np.ones_like(scores)], axis=1)
    return np.array(scorers()[name]._extract_corpus_statistics(hyps, [refs]), dtype=float)


def score_from_stats(name: str, stats: np.ndarray) -> np.ndarray:
    """Corpus scores from summed statistics: one per row of a (resamples, sentences, statistics) selection."""
    totals = stats.sum(axis=-2)
    if name in ROUGE:
        return totals[..., 0] / np.maximum(totals[..., 1], 1)
    scorer = scorers()[name]
    # BLEU's statistics are counts; sacreBLEU wants them as ints.
    score = lambda row: scorer._compute_score_from_stats([int(x) if name == "bleu" else x for x in row]).score
    return np.array(score(totals)) if totals.ndim == 1 else np.array([score(row) for row in totals])

"""Translation metrics with sacreBLEU: corpus BLEU and chrF on detokenized text, and per-sentence statistics that
let a paired bootstrap recompute corpus scores on resampled sentences without re-tokenizing."""

from __future__ import annotations

import numpy as np

def scorers() -> dict:
    from sacrebleu.metrics import BLEU, CHRF

    return {"bleu": BLEU(), "chrf": CHRF()}


def corpus_scores(hyps: list[str], refs: list[str] | list[list[str]]) -> dict[str, float | str]:
    """{"bleu", "chrf"} on the whole corpus, with each metric's sacreBLEU signature.

    `refs` is one reference per hypothesis, or several reference streams (each a list as long as `hyps`).
    """
    streams = refs if refs and isinstance(refs[0], list) else [refs]
    scores: dict[str, float | str] = {}
    for name, scorer in scorers().items():
        scores[name] = round(float(scorer.corpus_score(hyps, streams).score), 4)
        scores[f"{name}_signature"] = str(scorer.get_signature())
    return scores


def sentence_stats(name: str, hyps: list[str], refs: list[str]) -> np.ndarray:
    """(sentences, statistics): sacreBLEU's sufficient statistics of each sentence for metric `name`."""
    return np.array(scorers()[name]._extract_corpus_statistics(hyps, [refs]), dtype=float)


def score_from_stats(name: str, stats: np.ndarray) -> np.ndarray:
    """Corpus scores from summed statistics: one per row of a (resamples, sentences, statistics) selection."""
    scorer = scorers()[name]
    totals = stats.sum(axis=-2)
    # BLEU's statistics are counts; sacreBLEU wants them as ints.
    score = lambda row: scorer._compute_score_from_stats([int(x) if name == "bleu" else x for x in row]).score
    return np.array(score(totals)) if totals.ndim == 1 else np.array([score(row) for row in totals])

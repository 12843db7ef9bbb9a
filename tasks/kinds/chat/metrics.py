"""chat's answer metrics, each answer scored on its own and averaged (x100): exact match after light normalisation,
ROUGE-L F-measure (rouge-score, stemmed) and chrF (sacreBLEU's, per answer). Answers are short and read one by one,
so a mean of per-answer scores is what a reader sees, and a paired bootstrap resamples the rows directly.

Exact match compares answers case-folded, with runs of spaces collapsed and a final full stop dropped ("Tuesday." is
"tuesday"); nothing else is forgiven, since a chat answer's wording is the answer."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

ANSWER_METRICS = ("exact_match", "rougeL", "chrf")


def normalize(text: str) -> str:
    return " ".join(str(text).casefold().split()).removesuffix(".").strip()


@lru_cache(maxsize=1)
def rouge_l():
    from rouge_score.rouge_scorer import RougeScorer

    return RougeScorer(["rougeL"], use_stemmer=True)


@lru_cache(maxsize=1)
def chrf():
    from sacrebleu.metrics import CHRF

    return CHRF()


def row_scores(answers: list[str], references: list[str]) -> dict[str, np.ndarray]:
    """Per answer, x100: what evaluate averages and a paired bootstrap resamples."""
    pairs = list(zip(answers, references))
    return {"exact_match": np.array([100.0 * (normalize(a) == normalize(r)) for a, r in pairs]),
            "rougeL": np.array([100 * rouge_l().score(r, a)["rougeL"].fmeasure for a, r in pairs], dtype=float),
            "chrf": np.array([chrf().sentence_score(a, [r]).score for a, r in pairs], dtype=float)}


def score_answers(answers: list[str], references: list[str]) -> dict[str, float]:
    """The mean of each metric over the answers (0 for none)."""
    return {name: round(float(scores.mean()) if len(scores) else 0.0, 4)
            for name, scores in row_scores(answers, references).items()}

"""The qa baseline: the context's first sentence as every answer, scored with SQuAD exact match and F1 as the
models are. It finds the answer's words only when they stand in that sentence, so a model must point, not guess."""

from __future__ import annotations

import pandas as pd

from tasks.core.config import Params

NAME = "the context's first sentence"


def first_sentence_baseline(params: Params, train: pd.DataFrame, test: pd.DataFrame) -> tuple[str, dict[str, float]]:
    from tasks.kinds.qa.metrics import score_answers
    from tasks.registry.baseline import first_sentence

    answers = [first_sentence(context) for context in test["context"].astype(str)]
    return NAME, score_answers(answers, test["answer"].astype(str).tolist())

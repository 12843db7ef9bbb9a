"""The checks for causal_lm texts: the text column present, no null, blank or out-of-bounds text, no text repeated in
train or shared by train and test. The classification text checks without the label ones (a language model's data
has no labels), built from tasks.data.checks' helpers so the two cannot drift apart in what they call a repeat or a leak."""

from __future__ import annotations

import pandas as pd

from tasks.data.checks import Check, in_train, plain_text_checks, repeat_checks
from tasks.core.config import Params


def lm_batches(rows: pd.DataFrame, params: Params) -> dict[str, pd.DataFrame]:
    """The frames the checks look at: rows, train texts, and texts of train and test (each unique within its split,
    so a repeated text there means train and test share it)."""
    if "text" not in rows.columns:
        return {"rows": rows}
    texts = rows.dropna(subset=["text"])
    shared = texts[texts["split"].isin(["train", "test"])].drop_duplicates(["split", "text"])
    return {"rows": rows, "train_texts": texts.loc[in_train(texts), ["split", "text"]],
            "train_test_texts": shared[["split", "text"]]}


def lm_checks(params: Params) -> list[Check]:
    return plain_text_checks(params) + repeat_checks(params, "text", lambda rows: rows["text"], "train_texts",
                                                     "train_test_texts")

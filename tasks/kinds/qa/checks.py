"""The checks for question answering rows: context, question and answer present and non-empty, bounded context
length, each answer a span of its context (at answer_start when the data gives one), no (question, context) repeated
in train or shared by train and test."""

from __future__ import annotations

import math

import pandas as pd

from tasks.data.checks import Check, in_train, repeat_checks
from tasks.core.config import Params

FIELDS = ("context", "question", "answer")


def parse_start(value) -> int | None:
    """An answer_start cell as an int; None when absent. Ingest makes every cell a string, so "12" and "12.0" are
    offsets; anything else is -1, which no answer can sit at, so answer_in_context reports the row."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == "":
        return None
    try:
        number = float(value)
    except ValueError:
        return -1
    return int(number) if number.is_integer() and number >= 0 else -1


def locate_answer(context: str, answer: str, start=None) -> int:
    """The answer's character offset in the context: `start` when the answer stands there, else (no start given) its
    first occurrence; -1 when it is not in the context (or not at the given start)."""
    if not answer:
        return -1
    given = parse_start(start)
    if given is None:
        return context.find(answer)
    return given if given >= 0 and context[given:given + len(answer)] == answer else -1


def answer_offsets(rows: pd.DataFrame) -> pd.Series:
    """locate_answer per row (float, NaN where the context or the answer is missing: the nulls check's business)."""
    starts = rows["answer_start"] if "answer_start" in rows.columns else pd.Series(None, index=rows.index, dtype=object)
    return pd.Series([locate_answer(c, a, s) if isinstance(c, str) and isinstance(a, str) else math.nan
                      for c, a, s in zip(rows["context"], rows["answer"], starts)],
                     index=rows.index, dtype=float)


def pair_key(rows: pd.DataFrame) -> pd.Series:
    # The same question on another context is another example; the same pair twice is a duplicate.
    return rows["question"] + " || " + rows["context"]


def qa_batches(rows: pd.DataFrame, params: Params) -> dict[str, pd.DataFrame]:
    """The frames the checks look at: rows with the answer's offset, train pairs, train+test pairs."""
    if not all(name in rows.columns for name in FIELDS):
        return {"rows": rows}
    rows = rows.assign(answer_offset=answer_offsets(rows))
    paired = rows.dropna(subset=["context", "question"])
    paired = paired.assign(pair=pair_key(paired))[["split", "pair"]]
    # Unique within each split, so a repeated pair in this frame means train and test share it.
    both = paired[paired["split"].isin(["train", "test"])].drop_duplicates(["split", "pair"])
    return {"rows": rows, "train_pairs": paired[in_train(paired)], "train_test_pairs": both}


def qa_checks(params: Params) -> list[Check]:
    import great_expectations.expectations as gxe

    v = params.validate_
    low, high = v.min_text_chars, v.max_text_chars

    def blank(rows: pd.DataFrame) -> pd.Series:
        return pd.concat([rows[name].fillna("x").str.fullmatch(r"\s*") for name in FIELDS], axis=1).any(axis=1)

    checks = [
        Check("columns", "rows", lambda p, m: [gxe.ExpectColumnToExist(column=c) for c in (*FIELDS, "split")]),
        Check("nulls", "rows", lambda p, m: [gxe.ExpectColumnValuesToNotBeNull(column=c, mostly=m) for c in FIELDS],
              lambda rows, p: rows[list(FIELDS)].isna().any(axis=1)),
        Check("blank", "rows", lambda p, m: [gxe.ExpectColumnValuesToNotMatchRegex(column=c, regex=r"^\s*$", mostly=m)
                                             for c in FIELDS], lambda rows, p: blank(rows)),
        Check("context_length", "rows", lambda p, m: [gxe.ExpectColumnValueLengthsToBeBetween(
            column="context", min_value=low, max_value=high, mostly=m)],
              lambda rows, p: rows["context"].notna() & ~rows["context"].str.len().between(low, high),
              "have a context shorter than {min_text_chars} or longer than {max_text_chars} characters"),
        # The offset is -1 when the answer is not in its context: a model can only point at spans it reads.
        Check("answer_in_context", "rows", lambda p, m: [gxe.ExpectColumnValuesToBeBetween(
            column="answer_offset", min_value=0, mostly=m)], lambda rows, p: answer_offsets(rows) < 0,
              "have an answer that is not in their context (or not at their answer_start)"),
    ]
    return checks + repeat_checks(params, "pair", pair_key, "train_pairs", "train_test_pairs")

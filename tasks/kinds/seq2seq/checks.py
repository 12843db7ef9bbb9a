"""The checks for seq2seq pairs: both sides present and non-empty, length bounds per side, a bounded target/source
length ratio, no pair repeated in train or shared by train and test, and optionally few pairs with source == target."""

from __future__ import annotations

import pandas as pd

from tasks.data.checks import Check, in_train, repeat_checks
from tasks.core.config import Params

SIDES = ("source", "target")


def pair_key(rows: pd.DataFrame) -> pd.Series:
    return rows["source"] + " => " + rows["target"]


def length_ratio(rows: pd.DataFrame) -> pd.Series:
    source_len = rows["source"].str.len()
    return rows["target"].str.len() / source_len.where(source_len > 0)


def pair_batches(rows: pd.DataFrame, params: Params) -> dict[str, pd.DataFrame]:
    """The frames the pair checks look at: rows with derived ratio/identity columns, train pairs, train+test pairs."""
    if not all(side in rows.columns for side in SIDES):
        return {"rows": rows}
    rows = rows.assign(length_ratio=length_ratio(rows), identical=(rows["source"] == rows["target"]).astype(float))
    paired = rows.dropna(subset=list(SIDES))
    paired = paired.assign(pair=pair_key(paired))[["split", "pair"]]
    # Unique within each split, so a repeated pair in this frame means train and test share it.
    both = paired[paired["split"].isin(["train", "test"])].drop_duplicates(["split", "pair"])
    return {"rows": rows, "train_pairs": paired[in_train(paired)], "train_test_pairs": both}


def pair_checks(params: Params) -> list[Check]:
    import great_expectations.expectations as gxe

    v = params.validate_
    bounds = {"source": (v.min_text_chars, v.max_text_chars), "target": (v.min_target_chars, v.max_target_chars)}

    def outside(side: str):
        low, high = bounds[side]
        return lambda rows, p: rows[side].notna() & ~rows[side].str.len().between(low, high)

    def lengths(side: str):
        return lambda p, m: [gxe.ExpectColumnValueLengthsToBeBetween(column=side, min_value=bounds[side][0],
                                                                     max_value=bounds[side][1], mostly=m)]

    checks = [
        Check("columns", "rows", lambda p, m: [gxe.ExpectColumnToExist(column=c) for c in (*SIDES, "split")]),
        Check("nulls", "rows", lambda p, m: [gxe.ExpectColumnValuesToNotBeNull(column=c, mostly=m) for c in SIDES],
              lambda rows, p: rows["source"].isna() | rows["target"].isna()),
        Check("blank", "rows", lambda p, m: [gxe.ExpectColumnValuesToNotMatchRegex(column=c, regex=r"^\s*$", mostly=m)
                                             for c in SIDES],
              lambda rows, p: rows["source"].fillna("x").str.fullmatch(r"\s*") | rows["target"].fillna("x").str.fullmatch(r"\s*")),
        Check("source_length", "rows", lengths("source"), outside("source")),
        Check("target_length", "rows", lengths("target"), outside("target")),
        Check("length_ratio", "rows", lambda p, m: [gxe.ExpectColumnValuesToBeBetween(
            column="length_ratio", min_value=v.min_length_ratio, max_value=v.max_length_ratio, mostly=m)],
              lambda rows, p: length_ratio(rows).notna() & ~length_ratio(rows).between(v.min_length_ratio, v.max_length_ratio)),
    ]
    if v.max_identical_share is not None:
        checks.append(Check("identical_share", "rows", lambda p, m: [gxe.ExpectColumnMeanToBeBetween(
            column="identical", max_value=v.max_identical_share)]))
    return checks + repeat_checks(params, "pair", pair_key, "train_pairs", "train_test_pairs")

"""The expectation suite for seq2seq pairs: both sides present and non-empty, length bounds per side, a bounded
target/source length ratio, no pair shared by train and test, and optionally few pairs with source == target."""

from __future__ import annotations

import pandas as pd

from tasks.config import Params

SIDES = ("source", "target")


def pair_batches(rows: pd.DataFrame, params: Params) -> dict[str, pd.DataFrame]:
    """The frames the pair suite looks at: rows with derived ratio/identity columns, and train+test pairs."""
    rows = rows.copy()
    present = all(side in rows.columns for side in SIDES)
    if present:
        source_len = rows["source"].str.len()
        rows["length_ratio"] = rows["target"].str.len() / source_len.where(source_len > 0)
        rows["identical"] = (rows["source"] == rows["target"]).astype(float)
    batches = {"rows": rows}
    if present and params.validate_.check_leakage:
        # Unique within each split, so a repeated pair in this frame means train and test share it.
        both = rows[rows["split"].isin(["train", "test"])].dropna(subset=list(SIDES))
        both = both.assign(pair=both["source"] + " => " + both["target"]).drop_duplicates(["split", "pair"])
        batches["train_test_pairs"] = both[["split", "pair"]]
    return batches


def pair_expectations(params: Params, batches: dict[str, pd.DataFrame]) -> dict[str, list]:
    import great_expectations.expectations as gxe

    v = params.validate_
    rows = [gxe.ExpectColumnToExist(column=column) for column in (*SIDES, "split")]
    if "length_ratio" in batches["rows"].columns:
        bounds = {"source": (v.min_text_chars, v.max_text_chars), "target": (v.min_target_chars, v.max_target_chars)}
        for side in SIDES:
            rows += [gxe.ExpectColumnValuesToNotBeNull(column=side),
                     gxe.ExpectColumnValuesToNotMatchRegex(column=side, regex=r"^\s*$"),
                     gxe.ExpectColumnValueLengthsToBeBetween(column=side, min_value=bounds[side][0],
                                                             max_value=bounds[side][1])]
        rows.append(gxe.ExpectColumnValuesToBeBetween(column="length_ratio", min_value=v.min_length_ratio,
                                                      max_value=v.max_length_ratio))
        if v.max_identical_share is not None:
            rows.append(gxe.ExpectColumnMeanToBeBetween(column="identical", max_value=v.max_identical_share))
    expectations = {"rows": rows}
    if "train_test_pairs" in batches:
        expectations["train_test_pairs"] = [gxe.ExpectColumnValuesToBeUnique(column="pair")]
    return expectations

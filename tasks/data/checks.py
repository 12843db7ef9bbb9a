"""The validation checks, each a named unit with a policy: fail (stop the flow), warn (record, go on) or drop (remove
the offending rows, record them, go on). A check is Great Expectations expectations on one batch, plus, for checks
that can drop, the rule that picks the offending rows. The classification checks live here, the pair checks in
validate_pairs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from tasks.core.config import Params

DEFAULT_DROP_MOSTLY = 0.95  # a drop check may remove at most 5% of the rows unless validate.mostly says otherwise


@dataclass(frozen=True)
class Check:
    name: str
    batch: str  # the frame of build_batches it runs on
    expectations: Callable[[Params, float], list]  # (params, mostly) -> GX expectations
    offending: Callable[[pd.DataFrame, Params], pd.Series] | None = None  # rows to drop (a mask over `rows`)
    meaning: str = ""  # what its offending rows are, in the report's words ("have no answer in their context")


def policy_of(params: Params, name: str) -> str:
    return params.validate_.policies.get(name, "fail")


def mostly_of(params: Params, name: str) -> float:
    default = DEFAULT_DROP_MOSTLY if policy_of(params, name) == "drop" else 1.0
    return params.validate_.mostly.get(name, default)


def in_train(rows: pd.DataFrame) -> pd.Series:
    return rows["split"] == "train"


def repeated_in_train(rows: pd.DataFrame, key: pd.Series) -> pd.Series:
    """Train rows whose key an earlier train row has (the first of each group stays)."""
    return in_train(rows) & key.where(in_train(rows)).duplicated() & key.notna()


def shared_with_test(rows: pd.DataFrame, key: pd.Series) -> pd.Series:
    """Train rows whose key is also a test row's: dropped from train, so the test split stays as given."""
    return in_train(rows) & key.isin(set(key[rows["split"] == "test"].dropna()))


def plain_text_checks(params: Params, others: tuple[str, ...] = ()) -> list[Check]:
    """The checks of a text column (and `others` beside it, present and not null): classification's and causal_lm's."""
    import great_expectations.expectations as gxe

    v = params.validate_
    text = lambda rows: rows["text"]
    columns = ("text", *others)
    return [
        Check("columns", "rows", lambda p, m: [gxe.ExpectColumnToExist(column=c) for c in (*columns, "split")]),
        Check("nulls", "rows", lambda p, m: [gxe.ExpectColumnValuesToNotBeNull(column=c, mostly=m) for c in columns],
              lambda rows, p: rows[list(columns)].isna().any(axis=1)),
        Check("blank", "rows", lambda p, m: [gxe.ExpectColumnValuesToNotMatchRegex(column="text", regex=r"^\s*$", mostly=m)],
              lambda rows, p: text(rows).fillna("x").str.fullmatch(r"\s*")),
        Check("text_length", "rows", lambda p, m: [gxe.ExpectColumnValueLengthsToBeBetween(
            column="text", min_value=v.min_text_chars, max_value=v.max_text_chars, mostly=m)],
              lambda rows, p: text(rows).notna() & ~text(rows).str.len().between(v.min_text_chars, v.max_text_chars)),
    ]


def repeat_checks(params: Params, column: str, key: Callable[[pd.DataFrame], pd.Series], train_batch: str,
                  shared_batch: str) -> list[Check]:
    """duplicates (a train row repeated) and, with validate.check_leakage, leakage (a row in train and test) on
    `column` of the two batches; `key` is that value computed from the rows (to drop them). Every kind has both."""
    import great_expectations.expectations as gxe

    unique = lambda p, m: [gxe.ExpectColumnValuesToBeUnique(column=column, mostly=m)]
    checks = [Check("duplicates", train_batch, unique, lambda rows, p: repeated_in_train(rows, key(rows)))]
    if params.validate_.check_leakage:
        checks.append(Check("leakage", shared_batch, unique, lambda rows, p: shared_with_test(rows, key(rows))))
    return checks


GROUP_BATCH = "train_test_groups"


def group_column(columns, kind_group: str | None) -> str | None:
    """The column whose values stay together: data.group_column's ("group"), else the task kind's (qa: context)."""
    return "group" if "group" in columns else kind_group if kind_group in columns else None


def group_leakage(column: str) -> Check:
    """leakage across groups: a train row whose group (a document, a user; qa: its context) a test row shares, under
    the name and policy of the kind's own leakage check."""
    import great_expectations.expectations as gxe

    return Check("leakage", GROUP_BATCH, lambda p, m: [gxe.ExpectColumnValuesToBeUnique(column=column, mostly=m)],
                 lambda rows, p: shared_with_test(rows, rows[column]),
                 f"are in both train and test, or share their {column} with a test row")


def group_batch(rows: pd.DataFrame, column: str) -> pd.DataFrame:
    """Each group once per split, of train and test: a repeated group here straddles the two."""
    both = rows[rows["split"].isin(["train", "test"])].dropna(subset=[column])
    return both.drop_duplicates(["split", column])[["split", column]]


def text_checks(params: Params) -> list[Check]:
    import great_expectations.expectations as gxe

    v = params.validate_
    checks = plain_text_checks(params, ("label",))
    if params.data.labels:
        labels = params.data.labels
        checks.append(Check("label_set", "rows", lambda p, m: [gxe.ExpectColumnValuesToBeInSet(
            column="label", value_set=labels, mostly=m)], lambda rows, p: rows["label"].notna() & ~rows["label"].isin(labels)))
    checks.append(Check("class_rows", "class_counts", lambda p, m: [gxe.ExpectColumnValuesToBeBetween(
        column="count", min_value=v.min_rows_per_class, mostly=m)]))
    return checks + repeat_checks(params, "text", lambda rows: rows["text"], "train_texts", "train_test_texts")


def text_batches(rows: pd.DataFrame, params: Params) -> dict[str, pd.DataFrame]:
    """The frames the checks look at: rows, class counts in train, train texts, texts of train and test."""
    if not {"text", "label"} <= set(rows.columns):
        return {"rows": rows}
    # Labels of every split, not only train's (tokenize's choice): a class seen only in test must show as 0 here.
    labels = params.data.labels or sorted(rows["label"].dropna().unique())
    counts = rows.loc[in_train(rows), "label"].value_counts().reindex(labels, fill_value=0)
    # Unique within each split, so a repeated text in this frame means train and test share it.
    shared = rows[rows["split"].isin(["train", "test"])].drop_duplicates(["split", "text"])
    return {"rows": rows, "class_counts": counts.rename_axis("label").reset_index(name="count"),
            "train_texts": rows.loc[in_train(rows), ["split", "text", "label"]].dropna(subset=["text"]),
            "train_test_texts": shared.dropna(subset=["text"])}


def apply_drops(rows: pd.DataFrame, checks: list[Check], params: Params) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Remove the rows each drop check flags, in order; returns (kept rows, dropped rows with their check, failures
    for checks that would drop more than their mostly allows)."""
    dropped, failures = [], []
    for check in checks:
        if policy_of(params, check.name) != "drop" or check.offending is None:
            continue
        try:
            mask = check.offending(rows, params).fillna(False).astype(bool)
        except KeyError:  # a missing column: the columns check reports it
            continue
        share, limit = mask.mean() if len(rows) else 0.0, mostly_of(params, check.name)
        if share > 1 - limit:
            failures.append(f"{check.name}: would drop {int(mask.sum())} of {len(rows)} rows ({share:.1%}), more than "
                            f"validate.mostly.{check.name} = {limit} allows; set validate.mostly.{check.name}: "
                            f"{max(round(1 - share - 0.005, 2), 0.0)} to drop them [drop]")
            continue
        dropped.append(rows[mask].assign(check=check.name))
        rows = rows[~mask]
    columns = [*rows.columns, "check"]
    return rows, pd.concat(dropped, ignore_index=True) if dropped else pd.DataFrame(columns=columns), failures

"""The per-slice gate, pure: the test rows cut by class, input length or a column; the primary metric of both models
on each slice's rows; a verdict that names each slice the challenger lost on by more than the tolerance."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from tasks.core.config import LOWER_IS_BETTER, PromoteParams, SliceRule


def name_buckets(edges: list[int]) -> list[str]:
    """[8, 16] -> "<8 words", "8-15 words", ">=16 words": what searchsorted(edges, words, side="right") numbers."""
    return [f"<{edges[0]} words", *(f"{low}-{high - 1} words" for low, high in zip(edges, edges[1:])),
            f">={edges[-1]} words"]


def cut_rows(test: pd.DataFrame, rule: SliceRule, input_column: str, reference_column: str | None) -> dict[str, np.ndarray]:
    """Slice name -> the positions of its test rows, in a stable order."""
    if rule.by == "length":
        words = test[input_column].astype(str).str.split().str.len().to_numpy()
        buckets = np.searchsorted(np.asarray(rule.edges), words, side="right")
        names = name_buckets(rule.edges)
        return {f"length {names[b]}": np.flatnonzero(buckets == b) for b in range(len(names))
                if (buckets == b).any()}
    column = reference_column if rule.by == "class" else rule.column
    values = test[column].astype(str).to_numpy()
    return {f"{'class' if rule.by == 'class' else column}={value}": np.flatnonzero(values == value)
            for value in sorted(set(values))}


def judge_slices(rule: PromoteParams, test: pd.DataFrame, scorers: dict[str, Callable[[np.ndarray], float]],
                 input_column: str, reference_column: str | None) -> tuple[list[dict], list[str]]:
    """The table (one row per slice: rows, each model's primary metric, the delta, judged, regressed) and one reason
    per slice where the challenger lost more than promote.slice_tolerance. `scorers` maps a role (challenger,
    champion) to its primary metric over given row positions; without a champion the table has the challenger only."""
    name, table, failed = rule.primary_metric, [], []
    for cut in rule.slices:
        for label, rows in cut_rows(test, cut, input_column, reference_column).items():
            scores = {who: round(float(score(rows)), 6) for who, score in scorers.items()}
            entry = {"slice": label, "rows": len(rows), **scores, "judged": len(rows) >= rule.slice_min_rows,
                     "regressed": False}
            if "champion" in scores:
                delta = round(scores["challenger"] - scores["champion"], 6)
                loss = delta if name in LOWER_IS_BETTER else -delta
                entry |= {"delta": delta, "regressed": entry["judged"] and loss > rule.slice_tolerance}
                if entry["regressed"]:
                    failed.append(f"slice {label} ({len(rows)} rows): {name} {scores['champion']:.4f} -> "
                                  f"{scores['challenger']:.4f} ({delta:+.4f}), a loss of more than the allowed "
                                  f"{rule.slice_tolerance:.4f}")
            table.append(entry)
    return table, failed


def apply_slices(verdict, rule: PromoteParams, table: list[dict], failed: list[str]):
    """The gate's verdict with the slices' added: any slice lost beyond the tolerance rejects, and says so."""
    from dataclasses import replace

    if not any("delta" in entry for entry in table):  # no champion: the table is shown, nothing is judged
        return verdict
    if failed:
        return replace(verdict, promoted=False, reasons=[*([] if verdict.promoted else verdict.reasons), *failed])
    judged = sum(entry["judged"] for entry in table)
    held = (f"no slice lost more than {rule.slice_tolerance:.4f} of {rule.primary_metric} ({judged} of {len(table)} "
            f"slices judged, those with at least {rule.slice_min_rows} rows)")
    return replace(verdict, reasons=[*verdict.reasons, held]) if verdict.promoted else verdict

"""Labels that come back for logged requests (`lmforge feedback LABELS_FILE`): joined to the inference log by request
id, appended as new training rows to the feedback source (paths.feedback), which ingest reads beside data.source.

The feedback source is append-only Parquet, one segment per accepted labels file, each renamed into place whole;
each row records who sent it (an authenticated identity the caller passes, never a name typed in the file) and when
(feedback_sent_by, feedback_time), which ingest does not train on. A
labels file is taken whole or not at all: an unknown request id, a malformed row or a label outside the label set
refuses the file in one sentence and appends nothing, so no data version is made from half a file. The rows become
part of the training split of the next data version (DVC versions it with the rest); test and validation rows stay
as they were, so the gate still compares the challenger with the champion on the same test rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tasks.core.config import Params
from tasks.core.errors import LmforgeError

LABEL = "label"  # the labels file's column of the right output: a class, a target text or an answer
REQUEST_ID = "request_id"
SENT_BY, SENT_AT = "feedback_sent_by", "feedback_time"  # provenance: who sent a row (an identity) and when (UTC)


@dataclass
class FedBack:
    """What `lmforge feedback` did with a labels file."""
    rows: int  # appended as training rows
    segment: Path | None  # their segment (None: every row was held)
    held: int = 0  # held for review: they contradict a confident champion answer
    review: Path | None = None  # the held rows' segment
    sent_by: str = ""


def read_labels(path: Path) -> pd.DataFrame:
    """The labels file (CSV, JSONL or Parquet) with its request_id and label columns, as strings."""
    from tasks.data.sources import read_table

    frame = read_table(path)
    missing = [column for column in (REQUEST_ID, LABEL) if column not in frame.columns]
    if missing:
        raise LmforgeError(f"{path}: no {' or '.join(missing)} column (it has {', '.join(map(str, frame.columns))}); "
                           f"give each row the {REQUEST_ID} an answer carried and the right {LABEL}.")
    frame = frame[[REQUEST_ID, LABEL]].astype(object)
    blank = frame.isna().any(axis=1) | (frame.astype(str).apply(lambda column: column.str.strip()) == "").any(axis=1)
    if blank.any():
        row = int(blank.idxmax())
        raise LmforgeError(f"{path}: row {row + 1} has an empty {REQUEST_ID} or {LABEL} ({int(blank.sum())} such "
                           "rows); fill them in or delete them. Nothing was appended.")
    frame = frame.astype(str)
    repeated = frame[REQUEST_ID].duplicated()
    if repeated.any():
        raise LmforgeError(f"{path}: request id {frame[REQUEST_ID][repeated].iloc[0]} is labelled twice; keep one "
                           "label per request. Nothing was appended.")
    return frame


def known_labels(params: Params) -> set[str] | None:
    """The label set a classification label must belong to: data.labels, else the current training split's."""
    if params.data.labels:
        return set(params.data.labels)
    train = Path(params.paths.dataset) / "train.parquet"
    return set(pd.read_parquet(train, columns=["label"])["label"].astype(str)) if train.is_file() else None


def check_labels(rows: pd.DataFrame, path: Path, label_set: set[str] | None, within: str | None) -> None:
    """Labels outside what the kind can learn from: a class not in `label_set`, an answer not in its `within` column
    (qa: the context)."""
    if label_set:
        outside = rows[~rows[LABEL].isin(label_set)]
        if len(outside):
            raise LmforgeError(f"{path}: label {outside[LABEL].iloc[0]!r} (request {outside[REQUEST_ID].iloc[0]}) is "
                               f"not one of the {len(label_set)} labels ({', '.join(sorted(label_set)[:8])}...); fix "
                               "it or declare it in data.labels. Nothing was appended.")
    if within:
        absent = rows[[answer not in context for answer, context in zip(rows[LABEL], rows[within])]]
        if len(absent):
            raise LmforgeError(f"{path}: the answer {absent[LABEL].iloc[0]!r} (request {absent[REQUEST_ID].iloc[0]}) "
                               "does not occur in its context; give the answer as it stands there. Nothing was "
                               "appended.")


def split_inputs(texts: list[str], columns: list[str]) -> list[list[str | None]]:
    """Logged inputs back in their columns: a kind that reads several joins them (qa: "QUESTION || CONTEXT")."""
    from tasks.registry.pyfunc import INPUT_SEPARATOR

    return [(text.split(INPUT_SEPARATOR, len(columns) - 1) + [None] * len(columns))[:len(columns)] for text in texts]


def join_labels(params: Params, labels: pd.DataFrame, path: Path, columns: list[str]) -> pd.DataFrame:
    """Each label (column `label`) with its logged request's input in the kind's input `columns` (plus request_id)."""
    from tasks.data.inference_log import read_log

    log = read_log(params.paths.inference_log)
    logged = log.drop_duplicates(REQUEST_ID).set_index(REQUEST_ID)["input"] if len(log) else pd.Series(dtype=object)
    unknown = labels[~labels[REQUEST_ID].isin(logged.index)]
    if len(unknown):
        raise LmforgeError(f"{path}: {len(unknown)} of {len(labels)} request ids are not in the inference log "
                           f"{params.paths.inference_log} (first: {unknown[REQUEST_ID].iloc[0]}); label only requests "
                           "lmforge answered (ids come back with each answer). Nothing was appended.")
    inputs = logged.loc[labels[REQUEST_ID]]
    hidden = inputs.isna() | inputs.str.fullmatch("[0-9a-f]{64}").fillna(False).astype(bool)  # nothing, or a hash
    if hidden.any():
        raise LmforgeError(f"{params.paths.inference_log}: {int(hidden.sum())} of the requests (first: "
                           f"{inputs.index[hidden.to_numpy()][0]}) were logged without their text (monitor.log_inputs: "
                           "hash or none), so their labels cannot become training rows; label requests logged with "
                           "monitor.log_inputs: text. Nothing was appended.")
    parts = split_inputs(inputs.tolist(), columns)
    if any(part[-1] is None for part in parts):
        raise LmforgeError(f"{path}: a logged input does not hold {' and '.join(columns)} joined as this kind's model "
                           "reads them; label requests of this pipeline's model only. Nothing was appended.")
    return pd.DataFrame(parts, columns=columns).assign(**{LABEL: labels[LABEL].tolist(),
                                                          REQUEST_ID: labels[REQUEST_ID].tolist()})


def read_feedback(folder: str | Path) -> pd.DataFrame:
    """Every fed-back row so far (canonical columns and request_id); empty when none came back."""
    from tasks.data.inference_log import list_segments, read_segments

    return read_segments(list_segments(folder))  # the same append-only segments as the inference log


def append_feedback(params: Params, path: Path, columns: list[str], target: str, sent_by: str,
                    label_set: set[str] | None = None, within: str | None = None, review: bool = False) -> FedBack:
    """Check the labels file whole, then write its rows (input `columns` and the `target` column, request_id and
    provenance) as one new segment of the feedback source. `label_set` and `within`: see check_labels; `review`: hold
    the rows that contradict a confident champion answer (tasks/data/feedback_review.py)."""
    from filelock import FileLock

    folder = Path(params.paths.feedback)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{folder}.lock"):  # two feedback commands at once: one after the other, each seeing the other's
        return write_feedback(params, path, columns, target, sent_by, label_set, within, review)


def write_feedback(params: Params, path: Path, columns: list[str], target: str, sent_by: str,
                   label_set: set[str] | None, within: str | None, review: bool) -> FedBack:
    """append_feedback's work, under its lock."""
    import uuid

    from tasks.data.feedback_ledger import check_file_share
    from tasks.data.feedback_review import hold_contradictions, review_folder

    labels = read_labels(path)
    seen = read_feedback(params.paths.feedback)
    again = labels[labels[REQUEST_ID].isin(seen[REQUEST_ID])] if len(seen) else labels.iloc[:0]
    if len(again):
        raise LmforgeError(f"{path}: request {again[REQUEST_ID].iloc[0]} was fed back before ({len(again)} such); "
                           "drop those rows. Nothing was appended.")
    rows = join_labels(params, labels, path, columns)
    check_labels(rows, path, label_set, within)
    rows, held = hold_contradictions(params, rows, LABEL) if review else (rows, rows.iloc[:0])
    check_file_share(params, len(rows), path)
    now = time.gmtime()
    name = f"{time.strftime('%Y%m%dT%H%M%S', now)}-{uuid.uuid4().hex[:12]}"
    stamp = {SENT_BY: sent_by, SENT_AT: time.strftime("%Y-%m-%dT%H:%M:%SZ", now)}
    held_at = write_segment(held.rename(columns={LABEL: target}).assign(**stamp), review_folder(params), name)
    segment = write_segment(rows.rename(columns={LABEL: target}).assign(**stamp), Path(params.paths.feedback), name)
    return FedBack(len(rows), segment, len(held), held_at, sent_by)


def write_segment(rows: pd.DataFrame, folder: Path, name: str) -> Path | None:
    """One whole Parquet segment (renamed into place: ingest never reads half a labels file), private as the inference
    log's (its inputs are what users sent); None for no rows."""
    from tasks.core.private_files import write_private

    if rows.empty:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    return write_private(folder / f"{name}.parquet", rows.astype(str).to_parquet(index=False), replace=True)

"""ingest: read a source, normalise it to the task kind's columns per split, write Parquet, version it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from tasks.core.config import BUILTIN_TASKS, DataParams, Params
from tasks.core.errors import LmforgeError
from tasks.kinds import get_kind
from tasks.core.records import DatasetVersion
from tasks.core.runtime import run_entry, step
from tasks.data.sources import SPLIT_NAMES, TEXT_FILE_COLUMN, pick_columns, read_files, read_source

if TYPE_CHECKING:
    from tasks.data.feedback_ledger import FeedbackTaken

SPLITS = ("train", "validation", "test")


def load_frames(data: DataParams, task: str = "classification", local=None) -> list[tuple[str | None, pd.DataFrame]]:
    """The source as the task kind's canonical frames (text, label; source, target; ...) [, split], each with the
    split its file gives. `local`: a remote source as fetched (tasks/hub/sources.py), its files and their splits."""
    kind = get_kind(task)
    if data.source in BUILTIN_TASKS:  # one of this task's: params refused the others at load time
        if data.splits.named_files():
            raise LmforgeError(f"data.splits names files, but data.source is {data.source}; give shares, or a folder.")
        builtin = kind.make_builtin(data.source, data.sample.rows, data.sample.seed)
        return [(None, keep_columns(kind.canonical_rows(builtin, data), builtin, data))]
    columns = kind.source_columns(data)
    if data.split_column:
        columns["split_column"] = data.split_column
    if data.group_column:
        columns["group_column"] = data.group_column
    if local is not None and local.files is not None:
        read = read_files(local.files, data.format, data.splits.named_files(), data.documents, data.text_column)
    else:
        read = read_source(data.source, data.format, data.splits.named_files(), data.documents, data.text_column)
    read = keep_first_rows(read, data.max_rows)
    # The paragraphs of one text file stay in one split, as the rows of a group do, when there are files to choose.
    text_files = sum(TEXT_FILE_COLUMN in frame.columns for split, frame in read if split in (None, "train"))
    by_file = not data.group_column and text_files > 1
    picked = columns | ({"group_column": TEXT_FILE_COLUMN} if by_file else {})
    return [(split, keep_columns(kind.canonical_rows(pick_columns(frame, picked, data.source), data), frame, data))
            for split, frame in read]


def keep_first_rows(read: list[tuple[str | None, pd.DataFrame]], limit: int | None) -> list[tuple[str | None, pd.DataFrame]]:
    """data.max_rows: the first rows of each split, in the order its files give them."""
    if limit is None:
        return read
    left: dict[str | None, int] = {}
    kept = []
    for split, frame in read:
        take = left.setdefault(split, limit)
        if take:
            kept.append((split, frame.head(take)))
            left[split] = take - min(take, len(frame))
    return kept


def keep_columns(picked: pd.DataFrame, source: pd.DataFrame, data: DataParams) -> pd.DataFrame:
    """data.keep_columns from the source, as text under their own names (what promote.slices may slice by)."""
    from tasks.data.sources import as_text

    for name in data.keep_columns:
        if name not in source.columns:
            raise LmforgeError(f"{data.source}: no column {name!r} to keep (it has "
                               f"{', '.join(map(repr, map(str, source.columns)))}); fix data.keep_columns.")
        picked[name] = as_text(source[name]).to_numpy()
    return picked


def group_keys(frame: pd.DataFrame, task: str) -> pd.Series | None:
    """What keeps rows together when a split is carved: data.group_column's values, else the task kind's own
    grouping (qa: the context), else nothing. A row without a group is a group of its own."""
    from tasks.data.checks import group_column

    column = group_column(frame.columns, get_kind(task).GROUP_COLUMN)
    if column is None:
        return None
    keys = frame[column].astype(object)
    return keys.where(keys.notna(), pd.Series([f"row {i}" for i in range(len(frame))], index=frame.index))


def carve_groups(frame: pd.DataFrame, share: float, seed: int, groups: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Whole groups, in a seeded order, until `share` of the rows is reached: no group straddles the two parts."""
    import numpy as np

    sizes = groups.groupby(groups, sort=False).size()
    order = np.random.default_rng(seed).permutation(len(sizes))
    taken, rows, target = [], 0, share * len(frame)
    for i in order:
        if rows >= target:
            break
        taken.append(sizes.index[i])
        rows += int(sizes.iloc[i])
    part = groups.isin(taken)
    if part.all() or not part.any():
        raise ValueError("too few groups")
    return frame[~part], frame[part]


def carve_end(frame: pd.DataFrame, share: float, groups: pd.Series | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The last `share` of the rows in source order (rounded up, as a random carve's count), whole groups at a time."""
    import math

    count = math.ceil(share * len(frame))
    if groups is not None:  # every group that has a row among the last `count` goes whole
        part = groups.isin(set(groups.iloc[len(frame) - count:])) if count else groups.isin([])
    else:
        part = pd.Series([i >= len(frame) - count for i in range(len(frame))], index=frame.index)
    if part.all() or not part.any():
        raise ValueError("too few rows")
    return frame[~part], frame[part]


def carve(frame: pd.DataFrame, share: float, seed: int, groups: pd.Series | None = None,
          from_end: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split off `share` of the rows: the last ones with `from_end`; else whole groups when there are groups, else
    stratified by label when every class can spare a row."""
    from sklearn.model_selection import train_test_split

    if from_end:
        return carve_end(frame, share, groups)
    if groups is not None:
        return carve_groups(frame, share, seed, groups)
    if "label" not in frame.columns:  # pairs: a plain seeded split
        return train_test_split(frame, test_size=share, random_state=seed)
    labels = frame["label"].fillna("<null>")
    counts = labels.value_counts()
    stratify = labels if counts.min() >= 2 and len(counts) <= share * len(frame) else None
    rest, part = train_test_split(frame, test_size=share, random_state=seed, stratify=stratify)
    return rest, part


def assign_splits(frames: list[tuple[str | None, pd.DataFrame]], data: DataParams, seed: int,
                  task: str = "classification") -> dict[str, pd.DataFrame]:
    """Given splits (split column or file names) are kept; missing ones are carved from train, seeded, each a share
    of the training rows as given (a test file does not count), whole groups at a time."""
    parts: dict[str, list[pd.DataFrame]] = {}
    for split, frame in frames:
        if "split" in frame.columns:
            names = frame["split"].astype(str).str.lower().map(SPLIT_NAMES)
            if names.isna().any():
                bad = frame["split"][names.isna()].iloc[0]
                raise LmforgeError(f"{data.source}: split column {data.split_column!r} has value {bad!r}; use train, validation or test.")
            for name, group in frame.drop(columns="split").groupby(names, sort=False):
                parts.setdefault(name, []).append(group)
        else:
            parts.setdefault(split or "train", []).append(frame)
    splits = {name: pd.concat(group, ignore_index=True) for name, group in parts.items()}
    if "train" not in splits:
        raise LmforgeError(f"{data.source}: no training rows (files or split values name only {', '.join(splits)}); add a train split.")
    pool = len(splits["train"])
    for name, share in (("test", data.splits.test), ("validation", data.splits.validation)):
        if name not in splits and not isinstance(share, str):
            # A share of the training rows as given: after test is carved, validation takes the same count of them.
            fraction = share * pool / len(splits["train"])
            try:
                splits["train"], splits[name] = carve(splits["train"], fraction, seed,
                                                      group_keys(splits["train"], task), name in data.splits.from_end)
            except ValueError:
                raise LmforgeError(f"{data.source}: {len(splits['train'])} training rows are too few to carve a {name} "
                                   f"split from; add rows or give a {name} file.") from None
    return {name: splits[name].reset_index(drop=True) for name in SPLITS}


def write_dataset(splits: dict[str, pd.DataFrame], out_dir: Path) -> dict[str, int]:
    """Write one Parquet file per split; the same rows always give the same bytes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*"):
        stale.unlink()
    for name, frame in splits.items():
        # Every kind's canonical columns are text, whatever the source typed them as.
        frame.astype("str").to_parquet(out_dir / f"{name}.parquet", index=False)
    return {name: len(frame) for name, frame in splits.items()}


def read_feedback_segments(params: Params) -> list[tuple[str, pd.DataFrame]]:
    """The feedback source's segments in the order they were accepted (their names begin with the time)."""
    from tasks.data.inference_log import list_segments

    return [(path.name, pd.read_parquet(path)) for path in list_segments(params.paths.feedback)]


def merge_feedback(splits: dict[str, pd.DataFrame], params: Params) -> tuple[dict[str, pd.DataFrame], "FeedbackTaken"]:
    """Labels fed back (`lmforge feedback`) join the training rows, the earliest first, up to feedback.max_share of
    them; test and validation stay as the source gives them, so the gate keeps comparing models on the same test
    rows. Only the training split's own columns are kept: provenance (feedback_sent_by, feedback_time) and request ids
    are never trained on."""
    from tasks.data.feedback_ledger import take_feedback

    train = splits["train"]
    rows, taken = take_feedback(read_feedback_segments(params), len(train), params.feedback.max_share)
    if taken.held:
        from tasks.core.runtime import say

        say(f"[ingest] {taken.held} fed-back rows held back for later data versions: feedback.max_share "
            f"({params.feedback.max_share:g}) lets {taken.rows} join the source's {taken.source_rows} training rows")
    if rows.empty:
        return splits, taken
    if "answer_start" in train.columns:  # qa: where the fed-back answer stands in its context (a check made sure)
        rows["answer_start"] = [context.find(answer) for context, answer in zip(rows["context"], rows["answer"])]
    if "group" in train.columns:  # each labelled request is a group of its own
        rows["group"] = "feedback " + rows["request_id"]
    rows = rows.reindex(columns=train.columns)
    return splits | {"train": pd.concat([train, rows], ignore_index=True)}, taken


def write_splits(params: Params, local) -> tuple[dict[str, int], "FeedbackTaken"]:
    """The source as split, with the feedback it may take, written to paths.dataset: (rows per split, what it took
    of the feedback)."""
    frames = load_frames(params.data, params.task, local)
    splits, taken = merge_feedback(assign_splits(frames, params.data, params.project.seed, params.task), params)
    return write_dataset(splits, Path(params.paths.dataset)), taken


def ingest_dataset(params: Params, local=None) -> dict[str, int]:
    """The pure core: source (and labels fed back) to canonical Parquet splits under paths.dataset; returns rows
    per split. A remote source is fetched first unless `local` holds it (tasks/hub/sources.py)."""
    from tasks.hub.sources import fetch_source

    return write_splits(params, local or fetch_source(params))[0]


@step
def ingest(params: Params) -> DatasetVersion:
    from tasks.core.config import matches_params_file
    from tasks.data.freshness import fingerprint_inputs, write_stamp
    from tasks.data.feedback_ledger import record_taken
    from tasks.data.versioning import read_pending, version_output
    from tasks.hub.sources import fetch_source

    local = fetch_source(params)  # a remote source resolved once, here: a folder and the revision it is at
    fingerprint = fingerprint_inputs(params, local)  # before reading: a file changed meanwhile shows as changed next time
    rows, taken = write_splits(params, local)
    record = matches_params_file(params, "data", "project", "paths", "feedback")
    data_version = version_output(params, record=record)
    record_taken(params, data_version, taken)  # before the stamp: a stamped version always has its ledger entry
    write_stamp(params, fingerprint, data_version, local.revision)
    pending = read_pending(params)
    return DatasetVersion(path=params.paths.dataset, data_version=data_version, source=params.data.source, rows=rows,
                          push_pending=f"push to DVC remote {pending['remote']} pending: {pending['reason']}" if pending else "",
                          revision=local.revision, feedback_rows=taken.rows, feedback_held=taken.held)


def main(params: Params) -> None:
    """Under DVC: the splits, and what they took of the feedback (register names the data version DVC hashes)."""
    from tasks.data.feedback_ledger import record_taken
    from tasks.hub.sources import fetch_source

    rows, taken = write_splits(params, fetch_source(params))
    record_taken(params, None, taken)
    print(rows)


if __name__ == "__main__":
    run_entry(main)

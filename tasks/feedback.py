"""feedback: labels that come back for logged requests become training rows (`lmforge feedback LABELS_FILE`).

The task kind says what a label is (its reference column), which inputs a logged request holds, and what a label
must satisfy; tasks/data/feedback.py checks the file whole and appends it to the feedback source.
"""

from __future__ import annotations

from pathlib import Path

from tasks.core.config import Params
from tasks.core.errors import LmforgeError


def input_columns(task: str) -> list[str]:
    """The kind's canonical input columns, in the order a logged input joins them (qa: question, context)."""
    from tasks.kinds import get_kind

    return [key.removesuffix("_column") for key in get_kind(task).INPUT_KEYS]


def feed_back(params: Params, path: Path) -> tuple[int, Path]:
    """Append the labels of `path` as training rows; returns (rows, the new segment)."""
    from tasks.data.feedback import append_feedback, known_labels
    from tasks.kinds import get_kind

    kind = get_kind(params.task)
    if kind.REFERENCE_COLUMN is None:
        raise LmforgeError(f"{params.task} models have no labels to feed back; add the texts to data.source instead.")
    columns = input_columns(params.task)
    label_set = known_labels(params) if kind.OUTPUT_IS_LABEL else None
    within = "context" if "context" in columns else None  # an extractive answer must stand in its passage
    return append_feedback(params, path, columns, kind.REFERENCE_COLUMN, label_set, within)

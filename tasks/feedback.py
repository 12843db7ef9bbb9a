"""feedback: labels that come back for logged requests become training rows (`lmforge feedback LABELS_FILE`).

The task kind says what a label is (its reference column), which inputs a logged request holds, and what a label
must satisfy; tasks/data/feedback.py checks the file whole and appends it to the feedback source.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tasks.core.config import Params
from tasks.core.errors import LmforgeError

if TYPE_CHECKING:
    from tasks.data.feedback import FedBack


def input_columns(task: str) -> list[str]:
    """The kind's canonical input columns, in the order a logged input joins them (qa: question, context)."""
    from tasks.kinds import get_kind

    return [key.removesuffix("_column") for key in get_kind(task).INPUT_KEYS]


def feed_back(params: Params, path: Path, sent_by: str) -> FedBack:
    """Append the labels of `path` as training rows, recorded as sent by `sent_by`: an authenticated identity (the
    server's bearer token, "token:NAME"; the CLI's OS account, tasks/core/identity.py), never one typed in. A
    classification label that contradicts a confident champion answer is held for review instead."""
    from tasks.data.feedback import append_feedback, known_labels
    from tasks.kinds import get_kind

    if not sent_by.strip():
        raise LmforgeError("feedback needs the identity of who sent it; pass the authenticated caller as sent_by.")
    kind = get_kind(params.task)
    if kind.REFERENCE_COLUMN is None:
        raise LmforgeError(f"{params.task} models have no labels to feed back; add the texts to data.source instead.")
    columns = input_columns(params.task)
    label_set = known_labels(params) if kind.OUTPUT_IS_LABEL else None
    within = "context" if "context" in columns else None  # an extractive answer must stand in its passage
    # Only a label's answer carries a confidence (the logged score); other kinds' outputs are texts: nothing is held.
    return append_feedback(params, path, columns, kind.REFERENCE_COLUMN, sent_by, label_set, within,
                           review=kind.OUTPUT_IS_LABEL)

"""The registry of task kinds: params.task names a package here whose __init__ provides what differs between kinds
(tasks/kinds/base.py lists it). Steps ask `get_kind(params.task)` and never import a kind's package; a new kind is its
folder, its line below, and its entries in the params schema (tasks/core/config.py)."""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType

KINDS = {
    "classification": "tasks.kinds.classification",
    "seq2seq": "tasks.kinds.seq2seq",
    "qa": "tasks.kinds.qa",
    "causal_lm": "tasks.kinds.causal_lm",
    "chat": "tasks.kinds.chat",
}


@cache
def get_kind(task: str) -> ModuleType:
    """The kind module of `task` (a name params accepted, so it is registered)."""
    # Imported by name so that asking for one kind loads none of the others (their modules are light anyway).
    return importlib.import_module(KINDS[task])

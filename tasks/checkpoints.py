"""Which checkpoint an interrupted run resumes from: the newest complete one.

Trainer writes a checkpoint's trainer_state.json after its weights, optimizer, scheduler and RNG state, so a
checkpoint whose trainer_state.json parses is complete. A run killed while saving leaves a folder without it (or with
half of it); Trainer's own choice, the highest step number, would resume from that folder and fail, or worse.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

STATE_FILE = "trainer_state.json"


def checkpoint_step(folder: Path) -> int:
    try:
        return int(folder.name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return -1


def read_state(folder: Path) -> dict | None:
    """The checkpoint's trainer state when the checkpoint is complete, else None."""
    try:
        state = json.loads((folder / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and "global_step" in state else None


def find_resumable(checkpoints: Path, say=print) -> tuple[Path, dict] | None:
    """The newest complete checkpoint and its state; incomplete newer ones are removed (saying so), so that neither
    this run nor a later one takes them."""
    folders = sorted((f for f in checkpoints.glob("checkpoint-*") if f.is_dir()), key=checkpoint_step, reverse=True)
    for folder in folders:
        state = read_state(folder)
        if state is not None:
            return folder, state
        say(f"[resume] removing {folder}: incomplete ({STATE_FILE} missing or cut short; killed while saving?)")
        shutil.rmtree(folder, ignore_errors=True)
    return None

"""A step's run record: the facts of one run (which MLflow run, how long, how fast), kept in run.json beside what
the step made rather than inside it.

A step's output is what it made from its inputs; its run record is when and where that happened. `.dvcignore` leaves
run.json out of DVC's output hashes, so the same inputs give the same dvc.lock however long the run took; MLflow keeps
the facts for good. A folder DVC restored from its run cache has no run record: it was not made by a run here.
"""

from __future__ import annotations

import json
from pathlib import Path

RUN_RECORD = "run.json"  # the name .dvcignore leaves out
DATA_DOCS = "data_docs"  # Great Expectations' pages of one validation run (its time in each): .dvcignore'd too


def split_facts(record: dict, run_keys) -> tuple[dict, dict]:
    """(what was made, the run's facts): `record` split by the keys that belong to the run."""
    return ({key: value for key, value in record.items() if key not in run_keys},
            {key: value for key, value in record.items() if key in run_keys})


def write_run_record(folder: str | Path, facts: dict) -> None:
    """run.json travels with the folder (copied, archived, shared): no credential a fact quotes goes with it."""
    from tasks.core.errors import redact_values

    (Path(folder) / RUN_RECORD).write_text(json.dumps(redact_values(facts), indent=1))


def read_run_record(folder: str | Path) -> dict:
    """The run record of a folder; {} when it has none (restored by DVC, or written before run records existed)."""
    try:
        found = json.loads((Path(folder) / RUN_RECORD).read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}

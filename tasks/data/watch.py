"""`lmforge watch`: new data or labels become a Prefect event, on which prefect.yaml's trigger runs the retrain
deployment. No polling of Prefect and no scheduler of our own: the watcher compares the fingerprint of what ingest
reads (the source's files, the labels fed back, the params that shape the dataset) with the one ingest last stamped,
and emits `lmforge.data.changed` once the new fingerprint has held for `settle_s` (a copy in progress is not data).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from tasks.core.config import Params
from tasks.core.errors import redact


@dataclass
class Change:
    fingerprint: str
    previous: str | None  # the fingerprint ingest stamped last (None: never ingested)


def changed_event(params: Params, change: Change) -> dict:
    """The event's resource and payload: the payload names the params file the trigger hands the retrain."""
    return {"event": "lmforge.data.changed",
            "resource": {"prefect.resource.id": f"lmforge.data.{params.registry.model_name}",
                         "lmforge.source": redact(str(params.data.source))},
            "payload": {"params_path": str(params.source_file or "params.yaml"), "reason": "data change",
                        "fingerprint": change.fingerprint, "previous": change.previous,
                        "source": redact(str(params.data.source)), "feedback": params.paths.feedback}}


def watch_inputs(params: Params, emit: Callable[[Change], None], interval_s: float, settle_s: float,
                 once: bool = False, repeat_s: float = 600.0, sleep: Callable[[float], None] = time.sleep,
                 clock=time.monotonic) -> int:
    """Emit a Change when the inputs' fingerprint differs from ingest's last stamp and has held for `settle_s`; while
    ingest has not read it, emit again every `repeat_s` (a trigger's debounce may have swallowed the event, or a run
    read the data before the latest change). Returns how many were emitted. `once`: look now, emit without settling."""
    from tasks.data.freshness import fingerprint_inputs, read_stamp

    pending, since, emitted, sent, sent_at = None, 0.0, 0, None, 0.0
    while True:
        current, stamped = fingerprint_inputs(params), (read_stamp(params) or {}).get("fingerprint")
        if current == stamped:
            pending = None  # ingest has read what is there
        else:
            if current != pending:
                pending, since = current, clock()
            due = current != sent or clock() - sent_at >= repeat_s
            if due and (once or clock() - since >= settle_s):
                emit(Change(current, stamped))
                sent, sent_at, emitted = current, clock(), emitted + 1
        if once:
            return emitted
        sleep(interval_s)

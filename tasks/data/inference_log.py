"""The inference log: what `lmforge serve` and `lmforge predict` answered, for the monitor to compare with training.

Append-only Parquet segments in paths.inference_log. A background thread takes rows from a bounded queue and closes a
segment every monitor.flush_s seconds (written to a hidden temporary name, then renamed): a reader never sees half a
segment, a kill -9 loses at most the rows of the last flush_s, and logging never sits on the response path. A full
queue or a failing disk costs rows, never answers: they are counted, and the first error is kept as one sentence.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import socket
import threading
import time
import uuid
from pathlib import Path

from tasks.core.config import MonitorParams

OUTPUT_KEYS = ("label", "answer", "output")  # what a kind's serve rows call their output


def new_request_ids(count: int) -> list[str]:
    return [uuid.uuid4().hex for _ in range(count)]


def keep_input(text: str, how: str) -> str | None:
    """monitor.log_inputs: the text itself, its keyed hash (duplicates without the text: log_secret.hash_input), or
    nothing."""
    if how == "text":
        return text
    if how == "hash":
        from tasks.data.log_secret import hash_input

        return hash_input(text)
    return None


def make_private_folder(folder: Path) -> None:
    """The log's folder, made readable by its owner alone (0700 whatever the umask): its rows are what users sent.
    A folder that exists already keeps its mode (the operator chose it); its parents are ordinary folders."""
    if not folder.is_dir():
        folder.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another writer made it first
            folder.mkdir(mode=0o700)
            os.chmod(folder, 0o700)


GENERATION_KEYS = ("prompt_tokens", "completion_tokens", "ttft_ms")  # a generated answer's, else null


def make_rows(texts: list[str], answers: list[dict], request_ids: list[str], context: dict, latency_ms: float,
              how: str) -> list[dict]:
    """One log row per input: when, which request, which model, how fast, what it answered and (as asked) what it
    was asked; for a generated answer (OpenAI's routes) its token counts and time to its first token. `context`:
    source, model_name, model_version, alias, backend. `trace_id` stays None unless a traced server fills it in
    (tasks/telemetry/tracing.py); older logs have no such column, and read back with it empty."""
    now = time.time()
    rows = []
    for text, answer, request_id in zip(texts, answers, request_ids):
        output = next((answer[key] for key in OUTPUT_KEYS if key in answer), None)
        score = answer.get("score")
        rows.append({"time": now, "request_id": request_id, "trace_id": None, **context,
                     "latency_ms": float(latency_ms),
                     "output": None if output is None else str(output),
                     "score": None if score is None else float(score), "input": keep_input(text, how),
                     **{key: answer.get(key) for key in GENERATION_KEYS}})
    return rows


def version_context(source: str, version, model_uri: str, backend: str) -> dict:
    """The context of rows answered by a registered version (None: a model URI the registry does not know)."""
    return {"source": source, "model_name": version.name if version else "",
            "model_version": str(version.version) if version else "", "alias": model_uri.partition("@")[2],
            "backend": backend}


class InferenceLog:
    """A writer of log rows in its own thread; record() never blocks and never raises."""

    def __init__(self, folder: str | Path, settings: MonitorParams):
        self.folder, self.settings = Path(folder), settings
        self.rows: queue.Queue = queue.Queue(maxsize=settings.queue_rows)
        self.written = self.dropped = self.pruned = 0
        self.error = ""
        # Time, host, process and this log's own random token in each name: several servers (one per machine, on a
        # shared folder) write one store, and two logs a process opens within one second must not write one name
        # (the second rename would replace the first's segment while its rows still counted as written).
        start, host = time.strftime('%Y%m%dT%H%M%S', time.gmtime()), socket.gethostname().replace("-", "")[:32]
        token = uuid.uuid4().hex[:8]
        self.names = (f"{start}-{host}-{os.getpid()}-{token}-{n:06d}" for n in itertools.count())
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, name="inference-log", daemon=True)
        self.thread.start()

    def record(self, rows: list[dict], wait: bool = False) -> None:
        """Queue rows; a full queue costs them (counted), unless `wait` (batch scoring: no answer waits on it)."""
        for row in rows:
            try:
                self.rows.put(row, timeout=60) if wait else self.rows.put_nowait(row)
            except queue.Full:
                self.dropped += 1

    def status(self) -> dict:
        return {"written": self.written, "not_logged": self.dropped, "queued": self.rows.qsize(),
                "error": self.error or None, "folder": str(self.folder)}

    def run(self) -> None:
        """Flush every flush_s; every retention_check_s, drop what the retention no longer keeps (this thread
        already wakes up to flush: no second thread for it)."""
        next_prune = time.monotonic() + self.settings.retention_check_s
        while not self.stopping.is_set():
            self.stopping.wait(min(self.settings.flush_s, self.settings.retention_check_s))
            self.flush()
            if time.monotonic() >= next_prune:
                self.prune()
                next_prune = time.monotonic() + self.settings.retention_check_s

    def prune(self) -> None:
        try:
            self.pruned += prune_segments(self.folder, self.settings.retention_days)
        except OSError as error:  # a folder gone or unreadable: the writer goes on, the next check tries again
            if not self.error:
                self.error = f"{self.folder}: old segments could not be deleted ({error.strerror or error})."

    def flush(self) -> None:
        batch = []
        while True:
            try:
                batch.append(self.rows.get_nowait())
            except queue.Empty:
                break
        if batch:
            self.write_segment(batch)

    def write_segment(self, batch: list[dict]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from tasks.core.private_files import write_private

        try:
            make_private_folder(self.folder)
            segment = pa.BufferOutputStream()
            pq.write_table(pa.Table.from_pylist(batch), segment)
            # 0600 from its first byte, under a hidden name until whole (list_segments skips it; prune takes it
            # when a killed writer left it).
            write_private(self.folder / f"{next(self.names)}.parquet", segment.getvalue().to_pybytes(), replace=True)
            self.written += len(batch)
        except Exception as error:  # noqa: BLE001 - a failing disk or a row Arrow cannot type: the writer lives on
            self.dropped += len(batch)
            if not self.error:
                why = getattr(error, "strerror", None) or error
                self.error = (f"{self.folder}: the inference log cannot be written ({why}); "
                              "answers go on, rows are counted as not logged; free the disk or set monitor.log: false.")

    def close(self) -> dict:
        """Write what is queued and stop; returns the final status."""
        self.stopping.set()
        self.thread.join(timeout=30)
        self.flush()
        return self.status()

    def close_and_warn(self) -> dict:
        """close(), and a command's warning when rows could not be written."""
        status = self.close()
        if status["error"]:
            from tasks.core.runtime import say

            say(f"warning: {status['error']}")
        return status


def prune_segments(folder: str | Path, retention_days: float) -> int:
    """Delete segments older than the retention (and temporaries a killed writer left); returns how many."""
    cutoff = time.time() - retention_days * 86400
    removed = 0
    if not Path(folder).is_dir():
        return 0
    for path in Path(folder).glob("*"):
        try:  # another server on the folder may prune the same segment first
            modified = path.stat().st_mtime
            stale_temporary = path.name.startswith(".") and modified < time.time() - 3600
            if (path.suffix == ".parquet" and modified < cutoff) or stale_temporary:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def list_segments(folder: str | Path) -> list[Path]:
    """The whole segments of a folder of append-only Parquet (hidden names are segments still being written)."""
    return sorted(Path(folder).glob("[!.]*.parquet"))


def read_segments(paths: list[Path]):
    """The rows of these segments as one DataFrame; empty when there are none."""
    import pandas as pd

    return pd.concat([pd.read_parquet(path) for path in paths], ignore_index=True) if paths else pd.DataFrame()


def read_log(folder: str | Path, since: float | None = None):
    """Every logged row (or those at or after `since`, a Unix time) as a DataFrame; empty when nothing was logged."""
    paths = list_segments(folder)
    if since is not None:  # a segment is renamed into place after its last row: one older than `since` has none newer
        paths = [path for path in paths if path.stat().st_mtime >= since]
    frame = read_segments(paths)
    return frame if since is None or frame.empty else frame[frame["time"] >= since].reset_index(drop=True)


def open_log(folder: str | Path, settings: MonitorParams) -> InferenceLog | None:
    """The writer a serving process uses (None when monitor.log is off), after pruning what the retention drops."""
    if not settings.log:
        return None
    if settings.log_inputs == "hash":  # a bad LMFORGE_LOG_SECRET is said when the server starts, not on a request
        from tasks.data.log_secret import log_secret

        log_secret()
    prune_segments(folder, settings.retention_days)
    return InferenceLog(folder, settings)

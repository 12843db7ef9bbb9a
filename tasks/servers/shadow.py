"""Shadow scoring: the challenger answers each request too, after the champion's answer went out, in one background
thread at the lowest CPU priority (its ONNX sessions on one thread that does not spin: see holders.load_served), so a
shadow never stands in a request's way. Its rows join the champion's in the inference log under the same request id."""

from __future__ import annotations

import os
import queue
import threading
import time

from tasks.data.inference_log import InferenceLog, make_rows
from tasks.servers.traffic import SHADOW

QUEUE_REQUESTS = 1000  # requests waiting for the shadow; beyond that they are skipped (counted), never waited on
BATCH_ROWS = 64  # rows of one shadow call at most


class ShadowScorer:
    def __init__(self, log: InferenceLog, log_inputs: str):
        self.log, self.log_inputs = log, log_inputs
        self.requests: queue.Queue = queue.Queue(maxsize=QUEUE_REQUESTS)
        self.scored = self.skipped = self.failed = 0
        self.thread = threading.Thread(target=self.run, name="shadow", daemon=True)
        self.thread.start()

    def submit(self, challenger, texts: list[str], request_ids: list[str], context: dict) -> None:
        try:
            self.requests.put_nowait((challenger, texts, request_ids, context))
        except queue.Full:
            self.skipped += len(texts)

    def run(self) -> None:
        try:  # Linux gives each thread its own nice value: this one yields the cores to answering threads
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except (AttributeError, OSError):
            pass
        while (batch := self.take()) is not None:
            challenger = batch[0][0]
            texts = [text for _, request, _, _ in batch for text in request]
            started = time.perf_counter()
            try:  # what queued up while it was busy, in one call of the model itself
                answers = (challenger.direct or challenger.predict)(texts)
                latency = 1000 * (time.perf_counter() - started)  # the call that scored it (several requests when busy)
                start = 0
                for _, request, request_ids, context in batch:
                    shadow = context | {"role": SHADOW, "model_version": challenger.version,
                                        "backend": challenger.backend}
                    self.log.record(make_rows(request, answers[start:start + len(request)], request_ids, shadow,
                                              latency, self.log_inputs))
                    start += len(request)
                self.scored += len(texts)
            except Exception:  # noqa: BLE001 - a failing shadow costs its own rows, never the service
                self.failed += len(texts)

    def take(self) -> list[tuple] | None:
        """The next request and those queued behind it for the same challenger (up to BATCH_ROWS); None: stop."""
        first = self.requests.get()
        if first is None:
            return None
        batch, rows = [first], len(first[1])
        while rows < BATCH_ROWS:
            try:
                item = self.requests.queue[0]  # peek: a request for another version waits for the next call
            except IndexError:
                break
            if item is None or item[0] is not first[0]:
                break
            batch.append(self.requests.get_nowait())
            rows += len(item[1])
        return batch

    def status(self) -> dict:
        return {"scored": self.scored, "skipped": self.skipped, "failed": self.failed,
                "queued": self.requests.qsize()}

    def close(self) -> None:
        """Score what is queued, then stop (before the log closes, so its rows are written)."""
        try:
            self.requests.put(None, timeout=5)  # a full queue of a stopped thread must not hold the shutdown
        except queue.Full:
            return
        self.thread.join(timeout=60)

"""Adaptive micro-batching: the requests waiting for one model are answered by one call, each with its own rows.

A thread per loaded model takes every request queued when it is free (up to serve.batch.max_size rows; a larger
request goes alone), sorts their texts by length (so padding stays short), calls the model once and hands each
request its rows back. It waits for more only when more requests are already inside the server (up to
serve.batch.max_wait_ms): a lone request never waits, and under load the batches form while the model is busy.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future

Predict = Callable[[list[str]], list[dict]]


class MicroBatcher:
    def __init__(self, predict: Predict, max_rows: int, max_wait_ms: float, arriving: Callable[[], int] = lambda: 0,
                 waited: Callable[[float], None] = lambda seconds: None, workers: int = 1):
        """`arriving`: how many requests inside the server are on their way to a model (their body read, their
        JSON parsed): worth max_wait_ms when there are any. `waited`: told each request's seconds in the queue."""
        self.predict, self.max_rows, self.max_wait = predict, max_rows, max_wait_ms / 1000
        self.arriving, self.waited = arriving, waited
        self.pending: deque[tuple[list[str], Future, float]] = deque()
        self.ready = threading.Condition()
        self.closed = False
        self.calls = self.rows = self.requests = 0
        self.model_s = 0.0  # seconds inside the model: against the wall clock, how busy it is
        for worker in range(workers):
            threading.Thread(target=self.run, name=f"micro-batcher-{worker}" if workers > 1 else "micro-batcher",
                             daemon=True).start()

    def __call__(self, texts: list[str]) -> list[dict]:
        future = self.submit(texts)
        if future is None:  # got this model just before it was replaced: answered on its own, outside the lock
            return self.predict(texts)
        return future.result()

    def submit(self, texts: list[str], loop: asyncio.AbstractEventLoop | None = None) -> Future | asyncio.Future | None:
        """Queues a request; its future gets the request's rows (or the model's error). None once closed. With the
        event `loop` it is called on: an asyncio future of that loop, which a request awaits with no thread."""
        future = loop.create_future() if loop is not None else Future()
        with self.ready:
            if self.closed:
                return None
            self.pending.append((texts, future, time.perf_counter()))
            self.ready.notify()
        return future

    def take(self) -> list[tuple[list[str], Future]] | None:
        """The next batch: what is queued, or after a short wait for requests already arriving; None once closed."""
        with self.ready:
            while not self.pending:
                if self.closed:
                    return None
                self.ready.wait()
            deadline = time.monotonic() + self.max_wait
            while (self.queued_rows() < self.max_rows and self.arriving() > 0
                   and (left := deadline - time.monotonic()) > 0):
                self.ready.wait(left)
            batch, rows, now = [], 0, time.perf_counter()
            while self.pending and (not batch or rows + len(self.pending[0][0]) <= self.max_rows):
                texts, future, queued = self.pending.popleft()
                future.queue_span = (queued, now)  # its moments, for a traced request's spans (tasks/telemetry)
                batch.append((texts, future))
                rows += len(texts)
                self.waited(now - queued)
            return batch

    def queued_rows(self) -> int:
        return sum(len(entry[0]) for entry in self.pending)

    def run(self) -> None:
        batch: list = []
        try:
            while (batch := self.take()) is not None:
                self.answer(batch)
        except BaseException as error:  # a fault of this thread's own: no request may wait on it forever
            with self.ready:
                self.closed = True
                waiting, self.pending = [*(batch or []), *self.pending], deque()
            settle([(future, error) for _, future, *_queued in waiting])
            raise

    def answer(self, batch: list[tuple[list[str], Future]]) -> None:
        texts = [text for request, _ in batch for text in request]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        started = time.perf_counter()
        try:
            outputs = self.predict([texts[i] for i in order])
        except Exception as error:  # noqa: BLE001 - one bad request must not fail the others of its batch
            if len(batch) == 1:
                settle([(batch[0][1], error)])
                return
            for request in batch:  # each on its own: only the one that fails gets the error
                self.answer([request])
            return
        if len(outputs) != len(texts):  # a model that lost rows must fail its requests, not misplace answers
            lost = RuntimeError(f"the model gave {len(outputs)} answers for {len(texts)} texts")
            settle([(future, lost) for _, future in batch])
            return
        rows: list[dict] = [{}] * len(texts)
        for position, index in enumerate(order):
            rows[index] = outputs[position]
        finished = time.perf_counter()
        with self.ready:  # several workers may count at once
            self.calls, self.rows, self.requests = self.calls + 1, self.rows + len(texts), self.requests + len(batch)
            self.model_s += finished - started
        answers, start = [], 0
        for request, future in batch:
            future.model_span = (started, finished, len(texts), len(batch))  # for a traced request's spans
            answers.append((future, rows[start:start + len(request)]))
            start += len(request)
        settle(answers)

    def status(self) -> dict:
        return {"calls": self.calls, "requests": self.requests, "rows": self.rows,
                "rows_per_call": round(self.rows / self.calls, 2) if self.calls else 0.0,
                "model_s": round(self.model_s, 3)}

    def close(self) -> None:
        """Answer what is queued, then stop the thread; later calls run on their own."""
        with self.ready:
            self.closed = True
            self.ready.notify_all()


def settle(answers: list[tuple[Future | asyncio.Future, object]]) -> None:
    """Each future gets its rows, or its exception. The asyncio ones of a loop in one hand-off to that loop: a wake-up
    of the event loop per batch, not per request (at concurrency 32, one per request cost the loop a tenth of its
    time)."""
    on_loops: dict[asyncio.AbstractEventLoop, list] = {}
    for future, outcome in answers:
        if isinstance(future, asyncio.Future):
            on_loops.setdefault(future.get_loop(), []).append((future, outcome))
        else:
            set_outcome(future, outcome)
    for loop, settled in on_loops.items():
        try:
            loop.call_soon_threadsafe(settle_on_loop, settled)
        except RuntimeError:  # the loop has closed: the server is gone, nobody waits
            pass


def settle_on_loop(answers: list) -> None:
    for future, outcome in answers:
        if not future.done():  # a request that timed out (504) cancelled its future
            set_outcome(future, outcome)


def set_outcome(future, outcome) -> None:
    if isinstance(outcome, BaseException):
        if not future.done():
            future.set_exception(outcome)
    else:
        future.set_result(outcome)

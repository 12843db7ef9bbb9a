"""The micro-batcher on a stand-in model: every request gets its own rows back, concurrent ones share calls, a lone
one does not wait, and one request's failure stays its own."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tasks.servers.batching import MicroBatcher


class Model:
    """Answers each text with itself upper-cased; records each call's texts; refuses 'boom'."""

    def __init__(self, seconds: float = 0.0):
        self.calls: list[list[str]] = []
        self.seconds = seconds

    def __call__(self, texts: list[str]) -> list[dict]:
        if "boom" in texts:
            raise ValueError("boom")
        self.calls.append(list(texts))
        time.sleep(self.seconds)
        return [{"output": text.upper()} for text in texts]


def test_concurrent_requests_share_calls_and_each_gets_its_own_rows():
    model = Model(seconds=0.01)
    batcher = MicroBatcher(model, max_rows=32, max_wait_ms=0)
    requests = [[f"request {n} row {k} " + "x" * (n % 7) for k in range(1 + n % 3)] for n in range(200)]
    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(batcher, requests))
    assert all([row["output"] for row in answer] == [text.upper() for text in request]
               for request, answer in zip(requests, answers))
    assert len(model.calls) < 100 and max(len(call) for call in model.calls) <= 32, len(model.calls)
    assert all(call == sorted(call, key=len) for call in model.calls)  # length-sorted inside each batch
    status = batcher.status()
    assert status["requests"] == 200 and status["rows"] == sum(map(len, requests)) and status["rows_per_call"] > 2


def test_a_lone_request_does_not_wait_and_a_large_one_goes_alone():
    model = Model()
    batcher = MicroBatcher(model, max_rows=4, max_wait_ms=500, arriving=lambda: 0)
    started = time.perf_counter()
    assert batcher(["a"]) == [{"output": "A"}]
    assert time.perf_counter() - started < 0.2  # nothing else on its way to the model: no 500 ms wait
    assert [row["output"] for row in batcher(list("abcdefg"))] == list("ABCDEFG") and model.calls[-1] == list("abcdefg")


def test_a_batch_waits_for_requests_on_their_way_and_no_longer():
    model = Model()
    on_their_way = [1]  # the second request: inside the server, its JSON not parsed yet
    batcher = MicroBatcher(model, max_rows=8, max_wait_ms=5000, arriving=lambda: on_their_way[0])
    first = threading.Thread(target=batcher, args=(["first"],))
    first.start()
    time.sleep(0.05)
    started, on_their_way[0] = time.perf_counter(), 0  # it reaches the batcher: nothing else is coming
    assert batcher(["second"]) == [{"output": "SECOND"}]
    first.join()
    assert model.calls == [["first", "second"]]
    assert time.perf_counter() - started < 1  # not max_wait_ms: the batch went once nothing more was on its way


def test_one_failing_request_fails_alone():
    model = Model(seconds=0.02)
    batcher = MicroBatcher(model, max_rows=32, max_wait_ms=0)
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(batcher, [text]) for text in ("a", "b", "boom", "c", "d", "e")]
    results = [future.exception() or future.result() for future in futures]
    assert isinstance(results[2], ValueError)
    assert [row[0]["output"] for n, row in enumerate(results) if n != 2] == ["A", "B", "C", "D", "E"]


def test_a_closed_batcher_answers_late_requests_itself():
    model = Model()
    batcher = MicroBatcher(model, max_rows=8, max_wait_ms=0)
    batcher.close()
    assert batcher(["late"]) == [{"output": "LATE"}]
    with pytest.raises(ValueError):
        batcher(["boom"])


def test_a_model_that_loses_rows_fails_its_requests_and_a_dead_thread_fails_what_waits():
    batcher = MicroBatcher(lambda texts: [{"output": "x"}] * (len(texts) - 1), max_rows=8, max_wait_ms=0)
    with pytest.raises(RuntimeError, match="answers for"):
        batcher(["a", "b"])
    broken = MicroBatcher(Model(), max_rows=8, max_wait_ms=0)
    broken.answer = lambda batch: (_ for _ in ()).throw(SystemError("thread fault"))  # the loop itself fails
    with pytest.raises(SystemError):
        broken(["a"])
    assert broken.closed and broken(["b"]) == [{"output": "B"}]  # later callers are answered on their own


def test_requests_on_an_event_loop_are_answered_in_one_hand_off_per_batch():
    import asyncio

    model = Model(seconds=0.02)
    batcher = MicroBatcher(model, max_rows=32, max_wait_ms=0)

    async def main():
        loop = asyncio.get_running_loop()
        handed = []
        original = loop.call_soon_threadsafe
        loop.call_soon_threadsafe = lambda *args: (handed.append(args), original(*args))[1]
        futures = [batcher.submit([f"text {n}"], loop) for n in range(20)]
        answers = await asyncio.gather(*futures)
        late = batcher.submit(["late"], loop)
        late.cancel()  # a request that timed out: its rows arrive and are dropped, nothing raises
        await asyncio.sleep(0.1)
        return answers, handed

    answers, handed = asyncio.run(main())
    assert [answer[0]["output"] for answer in answers] == [f"TEXT {n}" for n in range(20)]
    assert len(handed) == len(model.calls) < 20  # one wake-up of the loop per model call, not per request


def test_several_workers_call_the_model_at_once_and_each_request_gets_its_own_rows():
    inside, most = [0], [0]
    lock = threading.Lock()

    def model(texts):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.02)
        with lock:
            inside[0] -= 1
        return [{"output": text.upper()} for text in texts]

    batcher = MicroBatcher(model, max_rows=4, max_wait_ms=0, workers=2)
    requests = [[f"request {n}"] for n in range(60)]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(batcher, requests))
    assert [answer[0]["output"] for answer in answers] == [request[0].upper() for request in requests]
    assert most[0] == 2 and batcher.status()["requests"] == 60  # two calls at once, every request counted once
    batcher.close()

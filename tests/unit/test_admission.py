"""serve.max_concurrency: requests beyond the limit are refused at once with 503 and Retry-After; /ping never is;
a request's slot is freed when its answer (a stream included) has gone out, or when it fails."""

from __future__ import annotations

import asyncio

from tasks.servers.admission import AdmissionLimit


def test_requests_beyond_the_limit_are_refused_and_slots_come_back():
    async def scenario():
        release = asyncio.Event()

        async def slow_app(scope, receive, send):
            if scope["path"] == "/boom":
                raise RuntimeError("the app failed")
            await release.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

        limited = AdmissionLimit(slow_app, limit=2)

        async def call(path: str = "/invocations") -> tuple[int, dict]:
            sent = []

            async def send(message):
                sent.append(message)
            try:
                await limited({"type": "http", "path": path}, None, send)
            except RuntimeError:
                return 500, {}
            return sent[0]["status"], dict(sent[0]["headers"])

        held = [asyncio.create_task(call()) for _ in range(2)]
        await asyncio.sleep(0.01)
        refused = await call()
        ping = asyncio.create_task(call("/ping"))  # waits on the app like the others, but is let in
        await asyncio.sleep(0.01)
        assert limited.inside == 2 and not ping.done()
        release.set()
        answered = [await task for task in held] + [await ping]
        failed = await call("/boom")
        after = await call()
        return refused, answered, failed, after, limited

    refused, answered, failed, after, limited = asyncio.run(scenario())
    assert refused[0] == 503 and refused[1][b"retry-after"] == b"1", refused
    assert [status for status, _ in answered] == [200, 200, 200]
    assert failed[0] == 500 and after[0] == 200 and limited.inside == 0 and limited.refused == 1


def test_a_slow_answer_times_out_at_once_while_its_thread_finishes():
    import threading
    import time

    from tasks.servers.scoring_api import run_in_thread, within

    finished = threading.Event()

    def slow():
        time.sleep(0.5)
        finished.set()
        return "late"

    async def scenario():
        started = time.perf_counter()
        try:
            await within(0.05, run_in_thread(slow))
        except TimeoutError:
            return time.perf_counter() - started
        return None

    waited = asyncio.run(scenario())
    assert waited is not None and waited < 0.3, waited  # answered 504 at once, not after the thread
    assert finished.wait(2)
    assert asyncio.run(within(1, run_in_thread(lambda: "soon"))) == "soon"

"""`POST /invocations` on `lmforge serve`: MLflow's scoring protocol, answered by the version the router picks.

The request goes straight from the event loop onto the answering model's micro-batcher and awaits its rows there, no
thread waiting for it; only when the champion's alias is due a check (a registry query, maybe a new version's
loading) or nothing batches does it take a worker thread. A body up to 64 KiB is parsed on the event loop (tens of
microseconds); a larger one in a thread, so it never holds up the probes. bench/serve_delivery.py measures it."""

from __future__ import annotations

import asyncio
import time

from starlette.requests import Request
from starlette.routing import Route

from tasks.core.config import Params
from tasks.core.errors import LmforgeError
from tasks.servers.serving_requests import BadRequest, canary_key, check_batch, read_body, read_texts
from tasks.telemetry import tracing

PARSED_INLINE = 65536  # bytes of JSON parsed on the event loop; a larger body in a thread


def add_scoring_route(app, params: Params, router, answer, parts: int, arriving: list[int], inside: dict) -> None:
    """`answer(status, body, version, route)`: the server's JSON response. `parts`: texts joined into one input (qa:
    question || context). `arriving`: the count of requests on their way to a model (the batcher waits for them);
    `inside`: the texts in flight, for the metrics."""
    from tasks.servers.router import ModelFailed

    async def invocations(request):
        started, on_its_way = time.perf_counter(), [True]
        arriving[0] += 1  # on the event loop's one thread: no lock needed
        try:
            return await respond(request, started, on_its_way)
        finally:
            if on_its_way[0]:  # refused before it reached a model
                arriving[0] -= 1

    async def respond(request, started: float, on_its_way: list[bool]):
        try:  # the body read within its cap
            body = await read_body(request, params.serve.max_body_bytes)
            texts = read_texts(body, params) if len(body) <= PARSED_INLINE else \
                await run_in_thread(read_texts, body, params)
            check_batch(texts, params, parts)
            if tracing.ON:
                tracing.mark_parsed()
        except BadRequest as error:
            return answer(error.status, {"error": str(error)})
        on_its_way[0], arriving[0] = False, arriving[0] - 1  # queued next, or in a thread on its way to the model
        inside["texts"] += len(texts)
        try:
            return await score(request, texts, started)
        finally:
            inside["texts"] -= len(texts)

    async def score(request, texts: list[str], started: float):
        key = canary_key(request, params.serve.canary)
        try:
            submitted = router.submit(texts, key)
            if submitted is None:
                body = await within(params.serve.request_timeout_s, run_in_thread(router.answer, texts, key, started))
            else:
                routed, future = submitted
                if tracing.ON:
                    tracing.follow(future)
                try:
                    async with asyncio.timeout(params.serve.request_timeout_s):  # cancels the future: never answered
                        rows = await future
                except TimeoutError:
                    raise
                except Exception as error:  # noqa: BLE001 - the model's failure on this request, counted
                    raise router.failed(routed, started, error) from None
                body = router.finish(texts, rows, routed, started)
        except TimeoutError:
            return answer(504, {"error": f"no answer within serve.request_timeout_s ({params.serve.request_timeout_s} "
                                         "s); retry, or send a smaller batch."})
        except ModelFailed as error:
            return answer(500, {"error": str(error)})
        except LmforgeError as error:
            return answer(503, {"error": str(error)})
        return answer(200, body, body["model_version"], body["route"])

    class Invocations:
        """An ASGI app, not a function: Starlette runs it as it is, without the per-request wrapper it puts around an
        endpoint function (about a fifth of the event loop's time per request at concurrency 32)."""

        async def __call__(self, scope, receive, send):
            response = await invocations(Request(scope, receive))
            await response(scope, receive, send)

    # First of the routes: the one that carries the load is matched before the probes and the rest. Starlette's own
    # route, not FastAPI's: the endpoint reads its body itself, and FastAPI's per-request dependency solving cost a
    # measurable share of the CPU the model shares at high concurrency.
    app.router.routes.insert(0, Route("/invocations", Invocations(), methods=["POST"]))


async def within(seconds: float, awaitable):
    """The awaitable's result, or TimeoutError after `seconds`: the caller answers 504 at once while a model call
    already under way finishes in its thread (a thread cannot be stopped; its result is dropped)."""
    task = asyncio.ensure_future(awaitable)
    task.add_done_callback(lambda done: done.cancelled() or done.exception())  # a late failure: read, not warned of
    return await asyncio.wait_for(asyncio.shield(task), seconds)


async def run_in_thread(fn, *args):
    """Model calls leave the event loop free for the probes and for parsing the next request."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)

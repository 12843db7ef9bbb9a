"""How many requests `lmforge serve` works on at once (serve.max_concurrency): beyond it a request is answered 503 with
Retry-After at once, before its body is read, so a flood of callers costs the server a refusal each, not memory and
threads. /ping is always answered (an orchestrator's probe must not be refused by the load it is probing)."""

from __future__ import annotations

import json

from tasks.servers.health import PROBES

# Probes and scrapes: an orchestrator or Prometheus must not be refused by the load it is watching.
ALWAYS = frozenset({"/ping", "/metrics", *PROBES})


class AdmissionLimit:
    """A pure ASGI middleware: counts the requests in flight (a streamed answer until its last byte) and refuses
    those beyond `limit`."""

    def __init__(self, app, limit: int, retry_after_s: int = 1):
        self.app, self.limit, self.retry_after = app, limit, retry_after_s
        self.inside = self.refused = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in ALWAYS:
            await self.app(scope, receive, send)
            return
        if self.inside >= self.limit:  # the event loop's one thread counts: no lock needed
            self.refused += 1
            await refuse(send, self.limit, self.retry_after)
            return
        self.inside += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.inside -= 1


async def refuse(send, limit: int, retry_after: int) -> None:
    body = json.dumps({"error": f"the server is answering {limit} requests (serve.max_concurrency); retry after "
                                f"{retry_after} s."}).encode()
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", b"application/json"), (b"retry-after", str(retry_after).encode()),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

"""Every HTTP answer counted and timed: a pure ASGI middleware outside the server's others, so a refusal (401, 413,
503) counts as an answer, and a streamed answer is timed to its last byte."""

from __future__ import annotations

import time

HANDLERS = frozenset({"/invocations", "/ping", "/feedback", "/metrics", "/health/live", "/health/ready",
                      "/v2/health/live", "/v2/health/ready", "/v1/chat/completions", "/v1/completions", "/v1/models"})


class RequestMetrics:
    """lmforge_requests_total and lmforge_request_duration_seconds; the answering version and role come from the
    answer's X-Model-Version and X-Route headers. `inside`: the process's plain count of requests in flight, which
    its sampler turns into lmforge_requests_in_flight (an int here costs less than a gauge's lock per request)."""

    def __init__(self, app, metrics, inside: dict):
        self.app, self.metrics, self.inside = app, metrics, inside
        self.children: dict[tuple, tuple] = {}  # labels -> (counter, histogram): labels() costs a lock and checks

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        handler = scope["path"] if scope["path"] in HANDLERS else "other"
        started, answer = time.perf_counter(), ["500", "", ""]  # code, version, role

        async def send_counted(message):
            if message["type"] == "http.response.start":
                answer[0] = str(message["status"])
                for key, value in message.get("headers", ()):
                    if key == b"x-model-version":
                        answer[1] = value.decode("latin-1")
                    elif key == b"x-route":
                        answer[2] = value.decode("latin-1")
            await send(message)

        self.inside["requests"] += 1  # the event loop's one thread: no lock needed
        try:
            await self.app(scope, receive, send_counted)
        finally:  # also when the app raised: counted as the 500 the server answers
            self.inside["requests"] -= 1
            labels = (handler, *answer)
            children = self.children.get(labels)
            if children is None:
                children = self.children[labels] = (self.metrics.requests.labels(*labels),
                                                    self.metrics.latency.labels(handler, answer[2]))
            children[0].inc()
            children[1].observe(time.perf_counter() - started)

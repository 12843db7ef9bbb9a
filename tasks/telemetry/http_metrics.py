"""Every HTTP answer counted and timed: a pure ASGI middleware outside the server's others, so a refusal (401, 413,
503) counts as an answer, and a streamed answer is timed to its last byte."""

from __future__ import annotations

import time

HANDLERS = frozenset({"/invocations", "/ping", "/feedback", "/metrics", "/health/live", "/health/ready",
                      "/v2/health/live", "/v2/health/ready", "/v1/chat/completions", "/v1/completions", "/v1/models"})


class RequestMetrics:
    """lmforge_requests_total, lmforge_request_duration_seconds and lmforge_requests_in_flight; the answering
    version and role come from the answer's X-Model-Version and X-Route headers."""

    def __init__(self, app, metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        handler = scope["path"] if scope["path"] in HANDLERS else "other"
        started, answer = time.perf_counter(), {"code": "500", "version": "", "role": ""}

        async def send_counted(message):
            if message["type"] == "http.response.start":
                answer["code"] = str(message["status"])
                for key, value in message.get("headers", ()):
                    if key == b"x-model-version":
                        answer["version"] = value.decode("latin-1")
                    elif key == b"x-route":
                        answer["role"] = value.decode("latin-1")
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_counted)
        finally:  # also when the app raised: counted as the 500 the server answers
            self.metrics.in_flight.dec()
            self.metrics.requests.labels(handler, answer["code"], answer["version"], answer["role"]).inc()
            self.metrics.latency.labels(handler, answer["role"]).observe(time.perf_counter() - started)

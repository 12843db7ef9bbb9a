"""A traced server's request spans. FastAPI (0.150 and later) opens each request's server span itself once a tracer
provider is set: it continues the caller's W3C traceparent and records the method, route and status. A pure ASGI
middleware inside it (added only when tracing is on) names the version and role that answered on that span, and
makes its parse, queue, model and log children from the moments the request left behind (tasks/telemetry/tracing.py)
once the answer has gone."""

from __future__ import annotations

import time

from tasks.telemetry import tracing

# Probes and scrapes, every second or so from every orchestrator and Prometheus: no trace is worth their spans.
UNTRACED_PATHS = frozenset({"/ping", "/health/live", "/health/ready", "/v2/health/live", "/v2/health/ready",
                            "/metrics"})


def fastapi_telemetry() -> dict:
    """FastAPI's own telemetry settings: this process's provider (when tracing is on), no probes, and no second
    exporter of FastAPI's (FASTAPI_OTEL_AUTO_CONFIGURE would add one to our provider: every span sent twice). Its
    metrics and logs off (Prometheus has the metrics), and its tracing too when ours is off: else it asked
    OpenTelemetry for three global providers on every request (5 % of a busy event loop's time) to find none set."""
    settings = {"exclude": lambda scope: scope.get("path") in UNTRACED_PATHS, "auto_configure": False,
                "tracing": tracing.ON, "metrics": False, "logs": False}
    if tracing.ON:
        settings["tracer_provider"] = tracing.provider()
    return settings


class RequestSpans:
    """Innermost of FastAPI's span and outermost of the server's middleware, so that a refusal (401, 413, 503) is in
    the request's trace and a streamed answer is timed to its last byte."""

    def __init__(self, app, model_name: str):
        self.app, self.model_name = app, model_name

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] not in tracing.TRACED_PATHS:
            return await self.app(scope, receive, send)
        from opentelemetry import trace

        span = trace.get_current_span()  # FastAPI's server span of this request
        if not span.get_span_context().is_valid:  # FastAPI's telemetry off for it: nothing to hang children on
            return await self.app(scope, receive, send)
        started = time.perf_counter_ns()
        span.set_attribute("lmforge.model.name", self.model_name)
        request = tracing.RequestTrace(span, time.time_ns() - started, started)
        token = tracing.enter_request(request)

        async def send_traced(message):
            if message["type"] == "http.response.start":
                request.answered = time.perf_counter_ns()
                note_answer(span, message)
            await send(message)

        try:
            await self.app(scope, receive, send_traced)
        finally:
            tracing.leave_request(token)
            add_children(request)


def note_answer(span, message: dict) -> None:
    """The version and the role (champion, canary) that answered, from the answer's headers."""
    for key, value in message.get("headers", ()):
        if key == b"x-model-version":
            span.set_attribute("lmforge.model.version", value.decode("latin-1"))
        elif key == b"x-route":
            span.set_attribute("lmforge.route", value.decode("latin-1"))


def add_children(request: tracing.RequestTrace) -> None:
    """The request's steps as children of its span, made after the fact from its moments."""
    from opentelemetry import trace

    tracer, parent = tracing.tracer(), trace.set_span_in_context(request.span)

    def child(name: str, start: int, end: int, **attributes) -> None:
        tracer.start_span(name, context=parent, start_time=start + request.offset,
                          attributes=attributes or None).end(end_time=end + request.offset)

    if request.parsed is not None:
        child("parse", request.started, request.parsed)
    batch = request.future
    if batch is not None:  # stamped by the micro-batcher (tasks/servers/batching.py), as far as it got
        if hasattr(batch, "queue_span"):
            child("queue", *map(seconds_to_ns, batch.queue_span))
        if hasattr(batch, "model_span"):
            started, finished, rows, requests = batch.model_span
            child("model", seconds_to_ns(started), seconds_to_ns(finished), **{
                "lmforge.batch.rows": rows, "lmforge.batch.requests": requests, "lmforge.batched": True})
    elif request.parsed is not None and (request.log or request.answered):
        # Answered in a worker thread (batching off, or the champion's alias due a registry check): one span from
        # the parsed body to the log call (or the answer), the check and the model call together.
        end = request.log[0] if request.log else request.answered
        child("model", request.parsed, end, **{"lmforge.batched": False})
    if request.log is not None:
        child("log", *request.log)


def seconds_to_ns(seconds: float) -> int:
    """The micro-batcher's perf_counter() seconds as perf_counter_ns() (the same clock)."""
    return round(seconds * 1e9)

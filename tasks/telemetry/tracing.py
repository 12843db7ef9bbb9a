"""Traces: OpenTelemetry spans of `lmforge serve`'s requests and of the flows' steps, sent by OTLP/HTTP to the
collector OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) names; off when neither is set.

A request to /invocations is FastAPI's own server span (it continues the caller's W3C `traceparent`) with four
children: parse (body read and JSON), queue (from its submission to the micro-batcher taking it), model (the batch's
model call) and log (the inference-log record call); its log rows carry the span's trace id. A batch answers several
requests with one model call: each request's trace gets its own model span, made after the fact from the batch's
start and end (with the batch's rows and requests as attributes), so that every trace is whole on its own rather
than linked to one batch span in another trace. The flows' steps are Prefect task runs, which Prefect 3 already
traces (a span per task run, children of the flow run's span) once a tracer provider is set: a flow's entry point
calls start_tracing before the flow starts, and the step wrapper puts the step's name on its span.

Off, the request path pays a module attribute read (`ON`): no middleware, no log wrapper, no span object.
"""

from __future__ import annotations

import os
import time
from contextvars import ContextVar

ON = False  # read on the request path: a plain attribute, so that tracing off costs nothing measurable
ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
TRACED_PATHS = frozenset({"/invocations", "/v1/chat/completions", "/v1/completions"})
SERVER_SPANS = "lmforge.serve"  # the instrumentation scope of the request spans

_provider = _tracer = None
# The request in progress: a context variable, so that the event loop's requests and their worker threads (which
# copy the context) each find their own.
_request: ContextVar[RequestTrace | None] = ContextVar("lmforge_request_trace", default=None)


def wants_tracing() -> bool:
    """An OTLP endpoint is set (OpenTelemetry's own variables), and OTEL_SDK_DISABLED does not turn the SDK off."""
    return any(os.environ.get(name) for name in ENDPOINTS) and os.environ.get("OTEL_SDK_DISABLED", "").lower() != "true"


def start_tracing(service_name: str) -> bool:
    """Set the process's tracer provider (service.name `service_name` unless OTEL_SERVICE_NAME or
    OTEL_RESOURCE_ATTRIBUTES names one) exporting in batches by OTLP/HTTP, when wants_tracing(); once per process.
    The exporter reads the other OTEL_EXPORTER_OTLP_* settings (headers, timeout, compression) itself."""
    global ON, _provider, _tracer
    if ON or not wants_tracing():
        return ON
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    named = os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    # shutdown_on_exit (the default): a command's process exports what is queued as it exits.
    _provider = TracerProvider(resource=Resource.create({} if named else {SERVICE_NAME: service_name}))
    _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(_provider)  # Prefect's flow and task runs trace into the global provider
    _tracer = _provider.get_tracer(SERVER_SPANS)
    ON = True
    return True


def stop_tracing() -> None:
    """Export what is queued and stop: a server's shutdown (uvicorn ends a SIGTERM'd process without atexit)."""
    global ON
    ON = False
    if _provider is not None:
        _provider.shutdown()


def tracer():
    """The tracer of the request spans: this module's provider's, even where another set the global one first."""
    return _tracer


def provider():
    """This process's tracer provider (None while tracing is off): FastAPI's request spans go to it."""
    return _provider


def name_step(step_name: str) -> None:
    """Prefect's span of the running task run (a run's name varies, `train-3f2`) gets the step's: lmforge.step."""
    from opentelemetry import trace

    trace.get_current_span().set_attribute("lmforge.step", step_name)


class RequestTrace:
    """One request's span and the moments (perf_counter nanoseconds) its children are made from when it ends."""
    __slots__ = ("span", "trace_id", "offset", "started", "parsed", "future", "log", "answered")

    def __init__(self, span, offset: int, started: int):
        from opentelemetry.trace import format_trace_id

        self.span, self.trace_id = span, format_trace_id(span.get_span_context().trace_id)
        self.offset, self.started = offset, started  # offset: perf_counter_ns to the epoch nanoseconds spans take
        self.parsed = self.future = self.log = self.answered = None


def enter_request(request: RequestTrace):
    """`request` is the one in progress in this context (its worker threads copy it); returns the token to leave."""
    return _request.set(request)


def leave_request(token) -> None:
    _request.reset(token)


def mark_parsed() -> None:
    """The request's body is read and parsed (the parse span ends, the queue or the model call begins)."""
    if (request := _request.get()) is not None:
        request.parsed = time.perf_counter_ns()


def follow(future) -> None:
    """The micro-batcher's future of the request: it carries the queue's and the model call's moments."""
    if (request := _request.get()) is not None:
        request.future = future


class TracedLog:
    """The inference log's writer as a traced server sees it: a traced request's rows carry its trace id (what joins
    a row to its trace), and the record call is the request's log span. Rows recorded outside a request (the
    shadow's thread) pass as they are."""

    def __init__(self, log):
        self.log = log

    def record(self, rows: list[dict], wait: bool = False) -> None:
        if (request := _request.get()) is None:
            return self.log.record(rows, wait)
        for row in rows:
            row["trace_id"] = request.trace_id
        started = time.perf_counter_ns()
        self.log.record(rows, wait)
        request.log = (started, time.perf_counter_ns())

    def __getattr__(self, name: str):
        return getattr(self.log, name)


def trace_log(log):
    return TracedLog(log) if ON and log is not None else log


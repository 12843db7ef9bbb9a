"""Traces: off unless an OTLP endpoint is set (no provider, no wrapper, no trace id in the log); on, a request's
server span continues the caller's traceparent and has parse, queue, model and log children made from the moments
the micro-batcher and the log left behind, and its log rows carry its trace id."""

from __future__ import annotations

import asyncio
import time

import pytest

from tasks.core.config import MonitorParams
from tasks.data.inference_log import InferenceLog, make_rows, read_log
from tasks.servers.batching import MicroBatcher
from tasks.telemetry import tracing
from tests.otlp_collector import otlp_collector

CONTEXT = {"source": "serve", "model_name": "m", "model_version": "3", "alias": "champion", "backend": "onnx"}
CALLER_TRACE, CALLER_SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"


def test_tracing_is_off_without_an_endpoint(monkeypatch):
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    for name in tracing.ENDPOINTS:
        monkeypatch.delenv(name, raising=False)
    assert tracing.start_tracing("lmforge-serve") is False and tracing.ON is False
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)
    log = object()
    assert tracing.trace_log(log) is log  # the server records straight to the log: no wrapper on its path
    row = make_rows(["great"], [{"label": "positive", "score": 0.9}], ["r1"], CONTEXT, 1.0, "none")[0]
    assert row["trace_id"] is None


def test_otel_sdk_disabled_keeps_it_off_and_nothing_is_sent(monkeypatch):
    with otlp_collector() as collector:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)
        monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
        assert tracing.wants_tracing() is False and tracing.start_tracing("lmforge") is False
        time.sleep(0.3)
        assert collector.paths == []
        monkeypatch.delenv("OTEL_SDK_DISABLED")
        assert tracing.wants_tracing() is True  # what start_tracing would act on


def test_logs_written_before_the_trace_id_read_back_with_it_empty(tmp_path):
    """A segment from before the column and one with it: one frame, the old rows' trace id empty."""
    old = make_rows(["fine"], [{"label": "positive"}], ["old"], CONTEXT, 1.0, "text")
    for row in old:
        del row["trace_id"]
    new = make_rows(["great"], [{"label": "positive"}], ["new"], CONTEXT, 1.0, "text")
    new[0]["trace_id"] = CALLER_TRACE
    for rows in (old, new):
        log = InferenceLog(tmp_path / "log", MonitorParams(flush_s=60))
        log.record(rows)
        assert log.close()["written"] == 1
    frame = read_log(tmp_path / "log").set_index("request_id")
    assert frame.loc["new", "trace_id"] == CALLER_TRACE
    assert frame["trace_id"].isna().tolist() == [frame.index[i] == "old" for i in range(2)]


class Rows:
    """A log that keeps what it was given."""

    def __init__(self):
        self.rows = []

    def record(self, rows, wait=False):
        self.rows.extend(rows)


@pytest.fixture
def spans(monkeypatch):
    """Tracing on in this process with an in-memory exporter (the global provider stays untouched: other tests run
    in this process); yields the finished spans' getter."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter, provider = InMemorySpanExporter(), TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "ON", True)
    monkeypatch.setattr(tracing, "_provider", provider)
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer(tracing.SERVER_SPANS))
    yield exporter.get_finished_spans


def serve_app(batcher: MicroBatcher | None, log):
    """A FastAPI app as serve builds it for tracing (FastAPI's telemetry settings, the request-spans middleware), whose
    /invocations does what the server's does: parse, queue on the micro-batcher (or not), log, answer."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from tasks.telemetry.request_spans import RequestSpans, fastapi_telemetry

    app = FastAPI(telemetry=fastapi_telemetry())

    async def invocations(request):
        await request.body()
        tracing.mark_parsed()
        texts = ["good", "bad"]
        if batcher is not None:
            future = batcher.submit(texts)
            tracing.follow(future)
            answers = await asyncio.wrap_future(future)
            log.record(make_rows(texts, answers, ["a", "b"], CONTEXT, 1.0, "none"))
        else:  # the server's other path: the model call and the log in a worker thread (which copies the context)
            from starlette.concurrency import run_in_threadpool

            answers = [{"label": "x"} for _ in texts]
            await run_in_threadpool(log.record, make_rows(texts, answers, ["a", "b"], CONTEXT, 1.0, "none"))
        return JSONResponse({}, headers={"X-Model-Version": "3", "X-Route": "canary"})

    app.add_route("/invocations", invocations, methods=["POST"])
    app.add_api_route("/ping", lambda: {"status": "ok"}, methods=["GET"])
    app.add_middleware(RequestSpans, model_name="reviews")
    return app


def by_name(found) -> dict:
    return {span.name: span for span in found}


def test_a_request_continues_the_callers_trace_with_its_steps_as_children(spans):
    from fastapi.testclient import TestClient
    from opentelemetry.trace import SpanKind, format_span_id, format_trace_id

    batcher = MicroBatcher(lambda texts: [{"label": "x"} for _ in texts], max_rows=8, max_wait_ms=0)
    log = tracing.TracedLog(Rows())
    with TestClient(serve_app(batcher, log)) as client:
        answer = client.post("/invocations", content=b"{}",
                             headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"})
    assert answer.status_code == 200
    batcher.close()
    found = by_name(spans())
    assert sorted(found) == ["POST /invocations", "log", "model", "parse", "queue"]
    root = found["POST /invocations"]
    assert root.kind == SpanKind.SERVER and format_trace_id(root.context.trace_id) == CALLER_TRACE
    assert format_span_id(root.parent.span_id) == CALLER_SPAN  # the caller's span is its parent
    assert {name: span.parent.span_id for name, span in found.items() if span is not root} == {
        name: root.context.span_id for name in ("log", "model", "parse", "queue")}
    assert {span.context.trace_id for span in found.values()} == {root.context.trace_id}
    keys = ("http.request.method", "http.route", "http.response.status_code", "lmforge.model.name",
            "lmforge.model.version", "lmforge.route")
    assert {key: root.attributes.get(key) for key in keys} == {
        "http.request.method": "POST", "http.route": "/invocations", "http.response.status_code": 200,
        "lmforge.model.name": "reviews", "lmforge.model.version": "3", "lmforge.route": "canary"}
    model = found["model"]
    assert dict(model.attributes) == {"lmforge.batch.rows": 2, "lmforge.batch.requests": 1, "lmforge.batched": True}
    # In order, inside the request's span: parsed, then queued, then the model call, then the log call.
    order = [found[name] for name in ("parse", "queue", "model", "log")]
    assert all(root.start_time <= span.start_time <= span.end_time <= root.end_time for span in order)
    assert all(first.end_time <= second.start_time + 1000 for first, second in zip(order, order[1:]))
    assert [row["trace_id"] for row in log.log.rows] == [CALLER_TRACE] * 2  # what joins the rows to the trace


def test_without_a_traceparent_a_request_starts_its_own_trace(spans):
    from fastapi.testclient import TestClient
    from opentelemetry.trace import format_trace_id

    log = tracing.TracedLog(Rows())
    with TestClient(serve_app(None, log)) as client:
        assert client.post("/invocations", content=b"{}").status_code == 200
    found = by_name(spans())
    root = found["POST /invocations"]
    assert root.parent is None and format_trace_id(root.context.trace_id) != CALLER_TRACE
    # Answered in a worker thread (no batcher): one model span from the parsed body to the log call.
    assert sorted(found) == ["POST /invocations", "log", "model", "parse"]
    assert found["model"].attributes["lmforge.batched"] is False
    assert {row["trace_id"] for row in log.log.rows} == {format_trace_id(root.context.trace_id)}


def test_probes_and_rows_outside_a_request_are_not_traced(spans):
    from fastapi.testclient import TestClient

    log = tracing.TracedLog(Rows())
    with TestClient(serve_app(None, log)) as client:
        assert client.get("/ping").status_code == 200
    assert spans() == ()
    log.record([{"trace_id": None}])  # the shadow's thread: no request of its own
    assert log.log.rows == [{"trace_id": None}]

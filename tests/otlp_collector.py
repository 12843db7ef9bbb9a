"""A stand-in OpenTelemetry collector on 127.0.0.1: it takes OTLP/HTTP's POST /v1/traces (protobuf bodies, as
OpenTelemetry's exporter sends them) and keeps every span it was sent, decoded, for a test to read."""

from __future__ import annotations

import contextlib
import gzip
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def read_spans(body: bytes) -> list[dict]:
    """The spans of one ExportTraceServiceRequest, each with its service's name and its attributes as a dict."""
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = {item.key: MessageToDict(item.value) for item in resource_spans.resource.attributes}
        service = resource.get("service.name", {}).get("stringValue")
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                values = {item.key: next(iter(MessageToDict(item.value).values()), None) for item in span.attributes}
                spans.append({"name": span.name, "service": service, "scope": scope_spans.scope.name,
                              "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                              "parent_id": span.parent_span_id.hex() or None, "kind": span.kind,
                              "start": span.start_time_unix_nano, "end": span.end_time_unix_nano,
                              "status": span.status.code, "attributes": values})
    return spans


class Collector:
    def __init__(self):
        self.spans: list[dict] = []
        self.paths: list[str] = []
        self.lock = threading.Lock()

    def wait_for(self, check, what: str, timeout_s: float = 30.0) -> list[dict]:
        """The spans once check(spans) is true (the exporter sends in batches, every few seconds)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                found = list(self.spans)
            if check(found):
                return found
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; the collector has {found}")


@contextlib.contextmanager
def otlp_collector():
    """Yields the collector; collector.endpoint is what OTEL_EXPORTER_OTLP_ENDPOINT takes."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    collector = Collector()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            with collector.lock:
                collector.paths.append(self.path)
                if self.path == "/v1/traces":
                    collector.spans.extend(read_spans(body))
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200 if self.path == "/v1/traces" else 404)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):  # quiet: the test reads the spans, not an access log
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    collector.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield collector
    finally:
        server.shutdown()
        server.server_close()

"""Traces sent to a stand-in OTLP collector: a request to `lmforge serve` is one trace (the caller's, when it sends a
traceparent) whose id is on its inference-log row; a flow's steps are spans under the flow run's span."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import make_project, registry
from tests.otlp_collector import otlp_collector
from tests.serving import register_tiny, serving, tiny_classifier

pytestmark = pytest.mark.flow
NAME = "test-traces"
CALLER_TRACE, CALLER_SPAN = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
STEPS = ("parse", "queue", "model", "log")


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project whose champion is a tiny untrained classifier (promoted by hand, as recorded)."""
    root = make_project(tmp_path / "project", {"registry": {"model_name": NAME}})
    monkeypatch.chdir(root)
    from tasks.core.config import load_params
    from tasks.registry.champion import promote_by_hand

    params = load_params(root / "params.yaml")
    version = register_tiny(params, tiny_classifier(tmp_path / "tiny"), root)
    promote_by_hand(registry(root), params, version, "the traces test's champion")
    return params, version


def test_a_served_request_is_one_trace_joined_to_its_log_rows(project, monkeypatch):
    params, version = project
    with otlp_collector() as collector:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "200")  # milliseconds between the exporter's batches
        # The alias checked rarely: both requests go straight onto the micro-batcher (the queue span's path).
        with serving("--set", "serve.refresh_s=600") as send:
            text = json.dumps({"inputs": ["fine", "awful"]}).encode()
            status, continued = send(text, headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"})
            assert status == 200, continued
            status, fresh = send(text)
            assert status == 200, fresh
            assert send(b"", "/ping")[0] == 200
            roots = lambda spans: [span for span in spans if span["name"] == "POST /invocations"]  # noqa: E731
            spans = collector.wait_for(lambda found: len(roots(found)) == 2 and len(found) >= 10, "two requests' spans")
    assert collector.paths and set(collector.paths) == {"/v1/traces"}
    first, second = sorted(roots(spans), key=lambda span: span["start"])
    assert first["trace_id"] == CALLER_TRACE and first["parent_id"] == CALLER_SPAN
    assert second["trace_id"] != CALLER_TRACE and second["parent_id"] is None
    for root in (first, second):
        assert root["service"] == "lmforge-serve" and root["kind"] == 2  # SPAN_KIND_SERVER
        assert {key: root["attributes"].get(key) for key in ("http.request.method", "http.route", "lmforge.route",
                                                             "lmforge.model.version", "lmforge.model.name")} == {
            "http.request.method": "POST", "http.route": "/invocations", "lmforge.route": "champion",
            "lmforge.model.version": version, "lmforge.model.name": NAME}
        assert root["attributes"]["http.response.status_code"] == "200"  # OTLP's JSON form of an int64
        children = {span["name"]: span for span in spans if span["parent_id"] == root["span_id"]}
        assert sorted(children) == sorted(STEPS), children
        assert all(child["trace_id"] == root["trace_id"] for child in children.values())
        assert all(root["start"] <= child["start"] <= child["end"] <= root["end"] for child in children.values())
        assert children["model"]["attributes"]["lmforge.batch.rows"] == "2"
    assert not [span for span in spans if span["name"].startswith("GET")]  # probes are not traced

    from tasks.data.inference_log import read_log

    log = read_log(params.paths.inference_log)  # written as the server stopped
    traced = dict(zip(log["request_id"], log["trace_id"]))
    assert [traced[request_id] for request_id in continued["request_ids"]] == [CALLER_TRACE] * 2
    assert [traced[request_id] for request_id in fresh["request_ids"]] == [second["trace_id"]] * 2


FLOW = """
    import sys

    from prefect import flow

    from cli.shared import run_prefect_flow
    from tasks.core.runtime import configure_runtime, step

    configure_runtime(sys.argv[1])


    def ingest(rows: int) -> int:
        return rows + 1


    def train(rows: int) -> int:
        return rows * 2


    ingest_step, train_step = step(ingest), step(train)


    @flow(name="tiny")
    def tiny(rows: int) -> int:
        return train_step(ingest_step(rows))


    print("answer", run_prefect_flow(lambda: tiny, False, True, 3))
"""


def test_each_step_of_a_flow_run_is_a_span_under_the_flow_runs(tmp_path):
    """Two steps wrapped as every step is (tasks.core.runtime.step), run as the CLI runs a flow: Prefect's spans of
    the flow run and of each task run, with the step's name on its span."""
    from tests.conftest import REPO

    script = tmp_path / "tiny_flow.py"
    script.write_text(textwrap.dedent(FLOW))
    with otlp_collector() as collector:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint, "PYTHONPATH": str(REPO),
               "PREFECT_HOME": str(tmp_path / "prefect")}
        import os

        done = subprocess.run([sys.executable, str(script), str(tmp_path)], env=os.environ | env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0 and "answer 8" in done.stdout, done.stdout + done.stderr
        spans = collector.wait_for(lambda found: len(found) >= 3, "the flow's spans", timeout_s=10)
    flows = [span for span in spans if span["attributes"].get("prefect.run.type") == "flow"]
    assert len(flows) == 1 and flows[0]["parent_id"] is None and flows[0]["service"] == "lmforge"
    steps = {span["attributes"].get("lmforge.step"): span for span in spans
             if span["attributes"].get("prefect.run.type") == "task"}
    assert sorted(steps) == ["ingest", "train"]
    assert all(span["parent_id"] == flows[0]["span_id"] and span["trace_id"] == flows[0]["trace_id"]
               for span in steps.values())
    assert steps["ingest"]["end"] <= steps["train"]["start"]

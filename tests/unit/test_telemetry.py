"""What /metrics says: counters summed over worker processes that never go backwards when one dies, its live gauges
gone at the next scrape; gauges that follow a swap of versions; every answer counted (a refusal and a crash too); the
monitor's verdicts per served version; the readiness probe's states."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

from prometheus_client import REGISTRY

WORKER = textwrap.dedent("""
    import sys, time
    from tasks.telemetry.metrics import serve_metrics
    m = serve_metrics()
    m.requests.labels("/invocations", "200", "1", "champion").inc(int(sys.argv[1]))
    m.ready.set(1)
    print("ready", flush=True)
    if sys.argv[2] == "stay":
        time.sleep(60)
""")


def value(name: str, labels: dict | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def test_a_dead_workers_counts_stay_and_its_live_gauges_go(tmp_path, monkeypatch):
    from tasks.telemetry.exposition import MULTIPROC_ENV, render_metrics

    env = {**os.environ, MULTIPROC_ENV: str(tmp_path)}
    gone = subprocess.run([sys.executable, "-c", WORKER, "3", "exit"], env=env, capture_output=True, text=True)
    assert gone.returncode == 0, gone.stderr
    alive = subprocess.Popen([sys.executable, "-c", WORKER, "4", "stay"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert alive.stdout.readline().strip() == "ready"
        monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
        text = render_metrics()[0].decode()
    finally:
        alive.kill()
        alive.wait()
    assert 'lmforge_requests_total{code="200",handler="/invocations",role="champion",version="1"} 7.0' in text, text
    ready = [line for line in text.splitlines() if line.startswith("lmforge_ready{")]
    assert ready == [f'lmforge_ready{{pid="{alive.pid}"}} 1.0'], ready  # the dead worker's series is gone


def fake_router(champion=None, challenger_holder=None, shadow=None, stopped=()):
    return SimpleNamespace(champion=SimpleNamespace(current=champion), challenger=challenger_holder, shadow=shadow,
                           stopped=set(stopped), status=lambda: {"canary_share": 0.25, "canary_figures": {
                               "champion": {"p95_ms": 20.0}, "canary": {"p95_ms": 40.0}}})


def test_the_sampler_follows_a_swap_and_its_counters_only_advance():
    from tasks.telemetry.metrics import serve_metrics
    from tasks.telemetry.sampler import ProcessSampler

    log = SimpleNamespace(state={"written": 5, "not_logged": 1, "queued": 3})
    log.status = lambda: log.state
    router = fake_router(SimpleNamespace(version="41", backend="onnx"))
    sampler = ProcessSampler(serve_metrics(), router, log, 60)
    written = value("lmforge_inference_log_rows_written_total")
    sampler.inside.update(requests=3, texts=7)  # what the request path counts as plain ints
    sampler.sample()
    assert (value("lmforge_requests_in_flight"), value("lmforge_inputs_in_flight")) == (3, 7)
    assert value("lmforge_inference_log_rows_written_total") == written + 5
    assert value("lmforge_inference_log_queue_rows") == 3
    assert value("lmforge_model_info", {"role": "champion", "version": "41", "backend": "onnx"}) == 1
    assert value("lmforge_model_version", {"role": "champion"}) == 41
    assert value("lmforge_ready") == 1

    router.champion.current = SimpleNamespace(version="42", backend="eager")  # a promotion, picked up
    router.stopped.add("43")  # a canary this process took back
    log.state = {"written": 9, "not_logged": 1, "queued": 0}
    sampler.sample()
    sampler.sample()  # a second look at the same totals adds nothing
    assert value("lmforge_inference_log_rows_written_total") == written + 9
    assert value("lmforge_model_info", {"role": "champion", "version": "41", "backend": "onnx"}) == 0
    assert value("lmforge_model_info", {"role": "champion", "version": "42", "backend": "eager"}) == 1
    assert value("lmforge_model_version", {"role": "champion"}) == 42
    rollbacks = value("lmforge_canary_rollbacks_total")
    sampler.sample()
    assert value("lmforge_canary_rollbacks_total") == rollbacks

    router.champion.current = None  # nothing loaded: not ready
    sampler.sample()
    assert value("lmforge_ready") == 0


def test_every_answer_is_counted_with_the_version_that_gave_it():
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from tasks.telemetry.http_metrics import RequestMetrics
    from tasks.telemetry.metrics import serve_metrics

    def scored(request):
        return JSONResponse({}, headers={"X-Model-Version": "7", "X-Route": "canary"})

    def refused(request):
        return JSONResponse({}, status_code=413)

    def crashed(request):
        raise RuntimeError("boom")

    app = Starlette(routes=[Route("/invocations", scored, methods=["POST"]), Route("/feedback", refused,
                                                                                    methods=["POST"]),
                            Route("/v1/models", crashed)])
    inside = {"requests": 0}
    app.add_middleware(RequestMetrics, metrics=serve_metrics(), inside=inside)
    labels = {"handler": "/invocations", "code": "200", "version": "7", "role": "canary"}
    before = {name: value("lmforge_requests_total", found) for name, found in (
        ("scored", labels), ("refused", {"handler": "/feedback", "code": "413", "version": "", "role": ""}),
        ("crashed", {"handler": "/v1/models", "code": "500", "version": "", "role": ""}),
        ("other", {"handler": "other", "code": "404", "version": "", "role": ""}))}
    timed = value("lmforge_request_duration_seconds_count", {"handler": "/invocations", "role": "canary"})
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/invocations").status_code == 200
        assert client.post("/feedback").status_code == 413
        assert client.get("/v1/models").status_code == 500
        assert client.get("/a/path/nobody/serves").status_code == 404  # one series for all of them: no blow-up
    assert value("lmforge_requests_total", labels) == before["scored"] + 1
    assert value("lmforge_requests_total", {"handler": "/feedback", "code": "413", "version": "", "role": ""}) == \
        before["refused"] + 1
    assert value("lmforge_requests_total", {"handler": "/v1/models", "code": "500", "version": "", "role": ""}) == \
        before["crashed"] + 1
    assert value("lmforge_requests_total", {"handler": "other", "code": "404", "version": "", "role": ""}) == \
        before["other"] + 1
    assert value("lmforge_request_duration_seconds_count", {"handler": "/invocations", "role": "canary"}) == timed + 1
    assert inside == {"requests": 0}


def monitoring_run(version, drift, start, statistic=0.3):
    tags = {"model_name": "m"} | ({"model_version": version} if version else {})
    return SimpleNamespace(info=SimpleNamespace(start_time=start), data=SimpleNamespace(
        tags=tags, metrics={"drift": drift, "rows": 120.0, "ks_statistic": statistic, "ks_p_value": 0.001}))


def test_the_monitors_latest_verdict_per_served_version_and_nothing_for_others():
    from tasks.core.config import load_params
    from tasks.telemetry.metrics import monitor_metrics
    from tasks.telemetry.monitor_gauges import MonitorGauges
    from tests.conftest import REPO

    params = load_params(REPO / "params.yaml", ["registry.model_name=m", "serve.metrics.monitor_refresh_s=0.001"])
    runs = [monitoring_run(None, 1.0, 4000), monitoring_run("2", 0.0, 3000, 0.1), monitoring_run("1", 1.0, 2000),
            monitoring_run("2", 1.0, 1000)]  # newest first, as search_runs orders them; the first has no version
    client = SimpleNamespace(get_experiment_by_name=lambda name: SimpleNamespace(experiment_id="5"),
                             search_runs=lambda *args, **kwargs: runs)
    gauges = MonitorGauges(monitor_metrics(), client, params)
    gauges.refresh_if_due(["1", "2"])
    assert value("lmforge_monitor_drift", {"model": "m", "version": "1"}) == 1
    assert value("lmforge_monitor_drift", {"model": "m", "version": "2"}) == 0  # its newest run, not the older drift
    assert value("lmforge_monitor_statistic", {"model": "m", "version": "2", "test": "ks"}) == 0.1
    assert value("lmforge_monitor_last_run_timestamp_seconds", {"model": "m", "version": "1"}) == 2.0
    import time

    time.sleep(0.01)
    gauges.refresh_if_due(["2"])  # version 1 no longer served: its verdict must not hold an alert
    assert math.isnan(REGISTRY.get_sample_value("lmforge_monitor_drift", {"model": "m", "version": "1"}))
    assert math.isnan(REGISTRY.get_sample_value("lmforge_monitor_p_value", {"model": "m", "version": "1",
                                                                           "test": "ks"}))
    client.search_runs = lambda *args, **kwargs: (_ for _ in ()).throw(ConnectionError("registry down"))
    time.sleep(0.01)
    gauges.refresh_if_due(["2"])  # a registry that is down keeps the last values
    assert value("lmforge_monitor_drift", {"model": "m", "version": "2"}) == 0


def test_readiness_says_why_it_is_not_ready():
    from tasks.servers.health import FirstLoad, readiness

    holder = SimpleNamespace(current=None, refused=None)
    loading = FirstLoad(holder)
    assert readiness(holder, loading) == (503, {"ready": False, "reason": "the champion is loading",
                                                "worker": os.getpid()})
    loading.error, _ = "version 3 failed its warm-up request (boom); it is not served.", loading.done.set()
    assert readiness(holder, loading)[1]["reason"].startswith("version 3 failed its warm-up")
    holder.refused = {"version": "4", "reason": "no promotion record"}
    assert readiness(holder, loading)[1]["reason"] == "version 4 is not served: no promotion record"
    holder.current = SimpleNamespace(version="2", backend="onnx", warm_up_ms=3.5)
    status, body = readiness(holder, loading)
    assert status == 200 and body["model_version"] == "2" and body["warm_up_ms"] == 3.5

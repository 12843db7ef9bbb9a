"""Prometheus itself scraping `lmforge serve` (two workers, a canary): known traffic read back with PromQL over its
HTTP API, counters that never go backwards across a promotion and a killed worker, a dead worker's series gone
within a scrape interval, the shipped alert rules loaded and firing on the promotion, and the graph page of the
latency histogram in Chromium (its screenshot is the one in docs/serving.md).

Without Debian's prometheus the test is skipped, unless LMFORGE_REQUIRE_PROMTOOL=1 (.ci/run), where that fails."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from collections import Counter

import pytest
import yaml

from tests.conftest import REPO, find_os_tool, free_port, invoke, make_project, registry
from tests.serving import register_tiny, serving, tiny_classifier

pytestmark = [pytest.mark.scale]
NAME = "test-reviews"


def find_prometheus() -> str:
    return find_os_tool("prometheus", "LMFORGE_REQUIRE_PROMTOOL", "prometheus")


def query(base: str, promql: str) -> list[dict]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=10) as answer:
        found = json.loads(answer.read())
    assert found["status"] == "success", found
    return found["data"]["result"]


def by_label(result: list[dict], label: str) -> dict[str, float]:
    return {row["metric"].get(label, ""): float(row["value"][1]) for row in result}


def eventually(check, what: str, timeout_s: float = 30):
    """Prometheus scrapes every second and each worker samples its gauges every second: wait for the figure."""
    deadline, last = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        if last := check():
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}: last seen {last!r}")


@pytest.fixture
def prometheus(tmp_path):
    """Debian's prometheus on a free port, scraping a server port chosen now, with lmforge's alert rules."""
    binary, port, target = find_prometheus(), free_port(), free_port()
    config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
              "rule_files": [str(REPO / "ops/prometheus/lmforge-alerts.yml")],
              "scrape_configs": [{"job_name": "lmforge", "static_configs": [{"targets": [f"127.0.0.1:{target}"]}]}]}
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    server = subprocess.Popen([binary, f"--config.file={tmp_path / 'prometheus.yml'}",
                               f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        def answers():
            assert server.poll() is None, server.stderr.read()
            try:
                return query(base, "vector(1)")
            except OSError:
                return None

        eventually(answers, "prometheus to answer")
        yield base, target
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project with two registered versions of a tiny classifier: the first the champion (promoted by hand, as
    recorded), the second the challenger, served as a canary; returns the challenger's number."""
    root = make_project(tmp_path / "project", {"registry": {"model_name": NAME}})
    monkeypatch.chdir(root)
    from tasks.core.config import load_params
    from tasks.registry.champion import promote_by_hand

    params = load_params(root / "params.yaml")
    folder = tiny_classifier(tmp_path / "tiny")
    first, second = register_tiny(params, folder, root), register_tiny(params, folder, root)
    promote_by_hand(registry(root), params, first, "the Prometheus test's champion")
    return second


def test_prometheus_reads_back_what_the_server_answered(prometheus, project):
    base, port = prometheus
    challenger = project
    options = ["--workers", "2", "--set", "serve.canary.share=0.5", "--set",
               "serve.canary.trust_client_key=true", "--set", "serve.max_batch=4", "--set", "serve.refresh_s=0.5"]
    with serving(*options, port=port) as send:
        workers = eventually(lambda: len(pids := {send(b"", "/health/ready")[1].get("worker") for _ in range(8)}) == 2
                             and pids, "both workers to be ready")
        text, sent = json.dumps({"inputs": ["fine"]}).encode(), Counter()

        def score(key: str) -> str:
            status, body = send(text, headers={"X-Canary-Key": key})
            assert status == 200, body
            sent[body["route"]] += 1
            return body["route"]

        eventually(lambda: any(score(f"probe-{n}") == "canary" for n in range(8)), "the challenger to answer")
        for n in range(60):
            score(f"user-{n}")
        for _ in range(20):
            assert send(b"{not json")[0] == 400
        for _ in range(10):
            assert send(json.dumps({"inputs": ["a"] * 5}).encode())[0] == 413
        invocations = lambda: by_label(query(base, 'sum by (code) (lmforge_requests_total{handler="/invocations"})'),
                                       "code")
        counted = eventually(lambda: (found := invocations()).get("400") == 20 and found, "the 400s to be scraped")
        assert counted == {"200": sum(sent.values()), "400": 20, "413": 10}, counted
        answered = by_label(query(base, 'sum by (role) (lmforge_requests_total{handler="/invocations",code="200"})'),
                            "role")
        assert answered == dict(sent) and sent["canary"] > 0, (answered, sent)
        assert by_label(query(base, "lmforge_canary_share"), "")[""] == 0.5
        assert len(query(base, "lmforge_ready == 1")) == 2
        rows = lambda: by_label(query(base, "sum(lmforge_inference_log_rows_written_total)"), "").get("")
        eventually(lambda: rows() == counted["200"], "one logged row per answered text")
        print(f"scraped: {counted}, by role {answered}, sent {dict(sent)}")

        assert invoke("promote", challenger, "--reason", "the Prometheus test").exit_code == 0
        eventually(lambda: send(text)[1].get("model_version") == challenger and
                   all(send(text)[1].get("model_version") == challenger for _ in range(8)), "the promotion to serve")
        eventually(lambda: by_label(query(base, 'max(lmforge_model_version{role="champion"})'), "").get("") ==
                   float(challenger), "the new champion's version")
        eventually(lambda: query(base, 'ALERTS{alertname="LmforgeChampionChanged",alertstate="firing"}'),
                   "the shipped rule to fire on the promotion")

        dead = min(workers)
        os.kill(dead, signal.SIGKILL)  # uvicorn's supervisor starts another
        eventually(lambda: not query(base, f'lmforge_ready{{pid="{dead}"}}'), "the dead worker's series to go", 10)
        eventually(lambda: len(query(base, "lmforge_ready == 1")) == 2, "its replacement to be ready", 60)
        for _ in range(10):
            assert send(text)[0] == 200
        time.sleep(2.5)
        resets = query(base, "sum(resets(lmforge_requests_total[5m])) + sum(resets("
                             "lmforge_inference_log_rows_written_total[5m]))")
        assert float(resets[0]["value"][1]) == 0, resets  # no counter went backwards: not on the swap, not on the kill
        assert invocations()["200"] >= counted["200"] + 10
        screenshot_latency(base)


def screenshot_latency(base: str) -> None:
    """The graph page of the p95 from the latency histogram, in Chromium, where Chromium is installed (the browser
    test's own rule)."""
    from tests.flows.test_ui import ARTIFACTS, browse, find_chromium

    promql = 'histogram_quantile(0.95, sum by (le, role) (rate(lmforge_request_duration_seconds_bucket{handler="/invocations"}[1m])))'
    url = f"{base}/graph?" + urllib.parse.urlencode({"g0.expr": promql, "g0.tab": "0", "g0.range_input": "5m"})
    page = browse(find_chromium(), url, "prometheus-latency", ARTIFACTS / "chromium-profile-prometheus")
    assert "histogram_quantile" in page, page[:500]
    assert (ARTIFACTS / "prometheus-latency.png").stat().st_size > 10_000

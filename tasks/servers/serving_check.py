"""The serving check before @champion moves: the challenger in a real `lmforge serve` process on a free 127.0.0.1
port, with the backend it will serve on (serve.backend; eager when it has no passed export of it), answers canned
requests from the test split with its own test outputs, within a latency budget; then the process is stopped.
What it finds is a record; a failure is the reason the gate gives for rejecting the challenger."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import yaml

from tasks.core.config import Params

OUTPUT_KEYS = ("label", "answer", "output")  # what a served row holds, by kind (their serve_rows)


def call(url: str, body: dict | None = None, timeout: float = 30) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.loads(answer.read())


def wait_ready(url: str, process: subprocess.Popen, version: str, startup_s: float) -> dict:
    deadline = time.monotonic() + startup_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode} before answering")
        try:
            found = call(f"{url}/ping", timeout=5)
            if found.get("model_version") == version:
                return found
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the server did not answer /ping with version {version} within {startup_s:.0f} s")


def start_server(params: Params, version: str, folder: Path) -> tuple[subprocess.Popen, str]:
    """`lmforge serve` pinned to `version`, on a free port, with this run's params (overrides included) and no
    inference log: canned requests are not traffic."""
    from tasks.servers.prefect_api import free_port

    settings = folder / "params.yaml"
    settings.write_text(yaml.safe_dump(params.model_dump(mode="json", by_alias=True)))
    port = free_port()
    command = [sys.executable, "-m", "flows.cli", "serve", "--params", str(settings), "--model-version", version,
               "--host", "127.0.0.1", "--port", str(port), "--set", "monitor.log=false"]
    log = open(folder / "serve.log", "wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return process, f"http://127.0.0.1:{port}"


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def judge_answers(found: dict, answers: list[str], expected: list[str] | None, latencies: list[float],
                  params: Params) -> dict:
    """The check's record: agreement with the expected outputs, p95 latency, and the verdict with its reason."""
    budget = params.promote.serving_check
    p95 = round(float(np.percentile(latencies, 95)) * 1000, 2) if latencies else None
    agreement = (round(sum(a == b for a, b in zip(answers, expected)) / len(expected), 4) if expected else None)
    reasons = []
    if agreement is not None and agreement < budget.min_agreement:
        reasons.append(f"its answers agreed with its test outputs on {agreement:.0%} of {len(expected)} canned "
                       f"requests, below promote.serving_check.min_agreement {budget.min_agreement:.0%}")
    if p95 is not None and p95 > budget.p95_ms:
        reasons.append(f"p95 latency {p95:.1f} ms over promote.serving_check.p95_ms {budget.p95_ms:g}")
    return found | {"requests": len(answers), "agreement": agreement, "p95_ms": p95, "passed": not reasons,
                    "reason": "; ".join(reasons)}


def check_serving(params: Params, version: str, texts: list[str], expected: list[str] | None) -> dict:
    """Serve `version`, send the canned `texts` one request each, stop it: the record (passed, reason, backend,
    agreement with `expected` when given, p95_ms, startup_s)."""
    with tempfile.TemporaryDirectory(prefix="lmforge-serving-check-") as folder:
        started = time.monotonic()
        process, url = start_server(params, version, Path(folder))
        answers, latencies = [], []
        try:
            ready = wait_ready(url, process, version, params.promote.serving_check.startup_s)
            found = {"backend": ready.get("backend"), "startup_s": round(time.monotonic() - started, 2)}
            for text in texts:
                sent = time.perf_counter()
                row = call(f"{url}/invocations", {"inputs": [text]})["predictions"][0]
                latencies.append(time.perf_counter() - sent)
                answers.append(str(next((row[key] for key in OUTPUT_KEYS if key in row), "")))
        except (RuntimeError, urllib.error.URLError, OSError, ValueError, KeyError, IndexError) as error:
            tail = (Path(folder) / "serve.log").read_bytes()[-600:].decode(errors="replace").strip().splitlines()
            reason = f"{error}" + (f" (its last line: {tail[-1][:200]})" if tail else "")
            return {"passed": False, "reason": reason, "backend": None, "requests": len(answers)}
        finally:
            stop_server(process)
    return judge_answers(found, answers, expected, latencies, params)

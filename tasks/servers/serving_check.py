"""The serving check before @champion moves: the challenger in a real `lmforge serve` process on a free 127.0.0.1
port, with the backend it will serve on (serve.backend; eager when it has no passed export of it), answers canned
requests from the test split with its own test outputs, within a latency budget; then the process is stopped.
What it finds is a record; a failure is the reason the gate gives for rejecting the challenger."""

from __future__ import annotations

import json
import os
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


def start_server(params: Params, version: str, folder: Path) -> tuple[subprocess.Popen, str]:
    """`lmforge serve` pinned to `version`, on a free port, with this run's params (overrides included) and no
    inference log (canned requests are not traffic); it dies with this process. It loads the version before it
    listens, so its first answer to /ping is that version's."""
    from tasks.servers.prefect_api import die_with_parent, free_port
    from tasks.servers.ui import launch

    settings = folder / "params.yaml"
    settings.write_text(yaml.safe_dump(params.model_dump(mode="json", by_alias=True)))
    port = free_port()
    command = [sys.executable, "-m", "cli", "serve", "--params", str(settings), "--model", version,
               "--host", "127.0.0.1", "--port", str(port), "--set", "monitor.log=false"]
    process = launch(command, folder / "serve.log", {**os.environ, "PYTHONUNBUFFERED": "1"}, die_with_parent)
    return process, f"http://127.0.0.1:{port}"


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
    from tasks.servers.ui import stop, wait_answer

    with tempfile.TemporaryDirectory(prefix="lmforge-serving-check-") as folder:
        started = time.monotonic()
        process, url = start_server(params, version, Path(folder))
        answers, latencies = [], []
        try:
            waited = wait_answer(f"{url}/ping", process, params.promote.serving_check.startup_s)
            if waited != "answered":
                raise RuntimeError(f"the server {'exited before answering' if waited == 'exited' else 'did not answer'}"
                                   f" within {params.promote.serving_check.startup_s:.0f} s")
            ping = call(f"{url}/ping")
            if str(ping.get("model_version")) != version:
                raise RuntimeError(f"the server answered as version {ping.get('model_version')}, not {version}")
            found = {"backend": ping.get("backend"), "startup_s": round(time.monotonic() - started, 2)}
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
            stop([process])
    return judge_answers(found, answers, expected, latencies, params)

"""`lmforge schedule` when its Prefect server goes away: it exits with one sentence and status 1 (rather than
hanging or printing only Prefect's tracebacks), so that a supervisor restarts it once the server is back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import make_project, prefect_env, start_prefect_server
from tests.flows.test_overlap import TINY

pytestmark = [pytest.mark.flow, pytest.mark.faults]


def wait_for_deployment(api: str, schedule: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert schedule.poll() is None, schedule.communicate()[1][-3000:]
        try:
            with urllib.request.urlopen(f"{api}/deployments/name/retrain/nightly", timeout=5):
                return
        except OSError:
            time.sleep(1)
    raise AssertionError("the deployment was not served in time")


def test_schedule_exits_in_one_sentence_when_its_prefect_server_goes(tmp_path):
    root = make_project(tmp_path / "project", TINY)
    server, api = start_prefect_server(tmp_path / "prefect-server")
    env = prefect_env(tmp_path / "prefect-server")
    schedule = None
    try:
        # Polls every second and no client retries, so that giving up takes seconds here (minutes by default).
        schedule = subprocess.Popen([sys.executable, "-m", "cli", "schedule", "--interval", "3600", "--name",
                                     "nightly"], cwd=root, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=env | {"PREFECT_API_URL": api, "PREFECT_HOME": str(root / ".prefect"),
                                               "PREFECT_RUNNER_POLL_FREQUENCY": "1", "PREFECT_CLIENT_MAX_RETRIES": "0"})
        wait_for_deployment(api, schedule, 120)
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
        out, err = schedule.communicate(timeout=180)
        assert schedule.returncode == 1, err[-3000:]
        assert f"error: the Prefect server at {api} stopped answering" in err, err[-3000:]
        # The last line is ours; above it Prefect logs its own warnings (with tracebacks) as the connection drops.
        assert err.strip().splitlines()[-1].startswith("error: the Prefect server"), err[-3000:]
    finally:
        for process in (schedule, server):
            if process and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL) if process is server else process.kill()

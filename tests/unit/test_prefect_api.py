"""The temporary Prefect API that `lmforge run` starts early: it answers, and it goes away with the run's process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

START = """
from tasks.core.runtime import configure_runtime
configure_runtime()
from tasks.servers.prefect_api import start_prefect_api, wait_for_api
server = start_prefect_api()
wait_for_api(server)
import os, urllib.request
print(os.environ["PREFECT_API_URL"], server.process.pid, urllib.request.urlopen(os.environ["PREFECT_API_URL"] + "/health").status)
"""


def gone(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return not status.exists() or "\nState:\tZ" in status.read_text()  # a zombie waits only for its reaper


def test_the_early_server_answers_and_stops_with_the_run(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / ".prefect")
    done = subprocess.run([sys.executable, "-c", START], cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    url, pid, status = done.stdout.split()
    assert url.startswith("http://127.0.0.1:") and url.endswith("/api") and status == "200"
    assert gone(int(pid)), "the server outlived the process that started it"


def test_nothing_is_started_when_a_server_is_configured(monkeypatch):
    from tasks.servers.prefect_api import start_prefect_api, wait_for_api

    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    assert start_prefect_api() is None
    wait_for_api(None)  # returns at once

"""Prefect's temporary API server for one `lmforge run`, started early so that its start overlaps the run's imports.

Without PREFECT_API_URL, Prefect starts the same server itself when the flow begins: it imports the server package in
the calling process (about 6 s here) and then waits about 8 s more for the subprocess, all on the critical path.
Starting Prefect's own app (`prefect.server.api.server:create_app` under uvicorn, as Prefect does) before the
step libraries are imported lets both run on the two cores at once; the flow then talks to it through
PREFECT_API_URL like to any server. Nothing is started when a server is configured or `lmforge ui` serves one.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from tasks.errors import LmforgeError

# What Prefect sets for its own temporary server, plus block types left unregistered: a local run never uses them,
# registering them takes ~2 s, and `lmforge ui`'s full server registers them when someone opens the UI.
SERVER_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1",
              "PREFECT_API_BLOCKS_REGISTER_ON_START": "false"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_prefect_api() -> subprocess.Popen | None:
    """Start the server in the background and point this process at it; None when Prefect is already configured.

    Call before anything imports prefect: Prefect reads PREFECT_API_URL once, at import. The server stops when this
    process exits (atexit runs it after Prefect's own exit handlers, which still send events and logs to it).
    """
    if os.environ.get("PREFECT_API_URL") or "prefect" in sys.modules:
        return None
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", "prefect.server.api.server:create_app",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "error", "--lifespan", "on"]
    process = subprocess.Popen(command, env={**os.environ, **SERVER_ENV}, stdout=subprocess.DEVNULL)
    atexit.register(stop_server, process)
    os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
    return process


def wait_for_api(process: subprocess.Popen | None, timeout_s: float | None = None) -> None:
    """Block until the server started by start_prefect_api answers its health check."""
    if process is None:
        return
    url = os.environ["PREFECT_API_URL"] + "/health"
    timeout_s = timeout_s or float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120"))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LmforgeError(f"Prefect's temporary server exited with status {process.returncode} before it "
                               "answered; rerun with --debug to see its output, or set PREFECT_API_URL to a "
                               "running server (`prefect server start`).")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    stop_server(process)
    raise LmforgeError(f"Prefect's temporary server did not answer within {timeout_s:.0f} s; raise "
                       "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS on a slow machine, or set PREFECT_API_URL "
                       "to a running server.")

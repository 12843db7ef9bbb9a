"""`lmforge ui`: the Prefect server (its UI) and the MLflow UI on 127.0.0.1 over this project's stores.

While they run, a marker in PREFECT_HOME tells every lmforge process of this project to report to that Prefect server.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tasks.core.config import Params
from tasks.core.errors import LmforgeError
from tasks.core.runtime import UI_MARKER, prefect_home

HOST = "127.0.0.1"


def check_port_free(port: int, option: str) -> None:
    with socket.socket() as probe:
        if probe.connect_ex((HOST, port)) == 0:
            raise LmforgeError(f"port {port} on {HOST} is already in use; stop what holds it or pass {option}.")


def launch(command: list[str], log: Path, env: dict[str, str], before_start=None) -> subprocess.Popen:
    """A server in its own process group, so Ctrl-C reaches us first and we stop it (and its workers) in order.
    `before_start` runs in the child first (prefect_api.die_with_parent: a server that is ours for a moment)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                preexec_fn=before_start)


def wait_answer(url: str, process: subprocess.Popen, timeout_s: float, interval_s: float = 0.5) -> str:
    """Poll `url` until it answers 200: "answered", "exited" (the server process ended first) or "timed out"."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return "exited"
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return "answered"
        except OSError:
            pass
        time.sleep(interval_s)
    return "timed out"


def wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout_s: float) -> None:
    found = wait_answer(url, process, timeout_s)
    if found == "exited":
        raise LmforgeError(f"the server for {url} exited with status {process.returncode}; its log is {log}.")
    if found == "timed out":
        raise LmforgeError(f"{url} did not answer within {timeout_s:.0f} s; its log is {log}.")


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def server_commands(params: Params, prefect_port: int, mlflow_port: int, env: dict[str, str],
                    host: str = HOST) -> list[tuple]:
    """(command, environment) of the Prefect server and of the MLflow server. The tracking URI (it may hold a
    password) goes by MLFLOW_BACKEND_STORE_URI, never on the command line, which any user of the machine reads in ps.
    Beyond loopback both servers' own authentication is on, and refused without its secrets (tasks/servers/doors.py)."""
    from tasks.registry import tracking
    from tasks.servers.doors import beyond_loopback, check_locks, mlflow_auth, prefect_auth

    check_locks(host, env)

    bin_dir = Path(sys.executable).parent
    # A real server runs its scheduler and other services, which configure_runtime turns off for temporary servers.
    base = {k: v for k, v in env.items() if not k.startswith("PREFECT_SERVER_SERVICES_") and k != "PREFECT_API_URL"}
    public = public_name(host)
    api_url = f"http://{public}:{prefect_port}/api"
    # The UI's browser code asks this address for the API; by default it assumes port 4200.
    prefect_env = base | {"PREFECT_UI_API_URL": api_url, "PREFECT_SERVER_API_HOST": host,
                          "PREFECT_SERVER_API_PORT": str(prefect_port)}
    artifacts = Path(params.registry.artifact_location).resolve()
    mlflow_env = prefect_env | {"MLFLOW_BACKEND_STORE_URI": tracking.tracking_uri(params),
                                "MLFLOW_ARTIFACTS_DESTINATION": artifacts.as_uri()}
    locked = []
    if beyond_loopback(host):
        prefect_env = prefect_env | prefect_auth(f"http://{public}:{prefect_port}")
        locked, auth_env = mlflow_auth(prefect_home() / "ui-auth")
        mlflow_env = mlflow_env | auth_env
    return [([str(bin_dir / "prefect"), "server", "start", "--host", host, "--port", str(prefect_port)], prefect_env),
            ([sys.executable, "-m", "mlflow", "server", *locked, "--host", host, "--port", str(mlflow_port),
              "--workers", "1"], mlflow_env)]


def public_name(host: str) -> str:
    """The address others use for a server bound to `host` (the machine's name for a wildcard)."""
    return socket.gethostname() if host in ("0.0.0.0", "::") else host


def local_name(host: str) -> str:
    """The address this machine reaches a server bound to `host` at."""
    return HOST if host in ("0.0.0.0", "::") else host


def write_marker(urls: dict) -> Path:
    """The marker other lmforge processes read (running_ui): addresses on 127.0.0.1 and our pid, no store URI; it is
    readable by its owner alone all the same."""
    from tasks.core.private_files import write_private

    return write_private(prefect_home() / UI_MARKER, json.dumps(
        {key: urls[key] for key in ("prefect_ui", "prefect_api_url", "mlflow_ui")} | {"pid": os.getpid()}),
        replace=True)


def start_servers(params: Params, prefect_port: int, mlflow_port: int, timeout_s: float = 180,
                  host: str = HOST) -> tuple[list, dict]:
    """Both servers, healthy, and the marker written; returns the processes and the addresses."""
    (prefect, prefect_env), (mlflow, mlflow_env) = server_commands(params, prefect_port, mlflow_port, dict(os.environ),
                                                                   host)
    check_port_free(prefect_port, "--prefect-port")
    check_port_free(mlflow_port, "--mlflow-port")
    logs = prefect_home() / "ui-logs"
    Path(params.registry.artifact_location).resolve().mkdir(parents=True, exist_ok=True)
    near = local_name(host)
    urls = {"prefect_ui": f"http://{near}:{prefect_port}", "prefect_api_url": f"http://{near}:{prefect_port}/api",
            "mlflow_ui": f"http://{near}:{mlflow_port}"}
    processes = [launch(prefect, logs / "prefect.log", prefect_env), launch(mlflow, logs / "mlflow.log", mlflow_env)]
    try:
        wait_healthy(urls["prefect_api_url"] + "/health", processes[0], logs / "prefect.log", timeout_s)
        wait_healthy(urls["mlflow_ui"] + "/health", processes[1], logs / "mlflow.log", timeout_s)
    except BaseException:
        stop(processes)
        raise
    write_marker(urls)
    return processes, urls


def serve_until_stopped(processes: list[subprocess.Popen]) -> None:
    """Block until Ctrl-C or SIGTERM (or a server dies), then stop both servers and remove the marker."""
    # A shell that starts us in the background makes SIGINT ignored; Ctrl-C (or kill -INT) must still stop us.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        # A second Ctrl-C must not cut the shutdown short and leave servers or the marker behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop(processes)
        (prefect_home() / UI_MARKER).unlink(missing_ok=True)
    dead = [p for p in processes if p.returncode not in (0, -signal.SIGTERM, -signal.SIGKILL)]
    if dead:
        raise LmforgeError(f"a UI server stopped by itself (status {dead[0].returncode}); see {prefect_home() / 'ui-logs'}.")

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
from dataclasses import dataclass

from tasks.core.errors import LmforgeError, redact_error

# What Prefect sets for its own temporary server, plus block types left unregistered: a local run never uses them,
# registering them takes ~2 s, and `lmforge ui`'s full server registers them when someone opens the UI.
SERVER_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1",
              "PREFECT_API_BLOCKS_REGISTER_ON_START": "false"}
# Set when the API is the temporary server of one run: it keeps concurrency leases in memory and dies with the run.
TEMPORARY_API = "LMFORGE_TEMPORARY_PREFECT_API"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def die_with_parent() -> None:
    """In the server's process before it starts: Linux sends it SIGTERM when the run's process dies, even by kill -9,
    so a killed run never leaves its server behind (elsewhere atexit alone stops it)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class StartingApi:
    process: subprocess.Popen
    lock: object  # held until the server answers: two servers migrating one new database at once break each other


def start_prefect_api() -> StartingApi | None:
    """Start the server in the background and point this process at it; None when Prefect is already configured.

    Call before anything imports prefect: Prefect reads PREFECT_API_URL once, at import. The server stops when this
    process exits (atexit runs it after Prefect's own exit handlers, which still send events and logs to it).
    Overlapping runs of one project start their servers one after the other (a lock in PREFECT_HOME).
    """
    if os.environ.get("PREFECT_API_URL") or "prefect" in sys.modules:
        return None
    from filelock import FileLock

    from tasks.core.runtime import prefect_home

    prefect_home().mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(prefect_home() / "api-start.lock"))
    lock.acquire()
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", "prefect.server.api.server:create_app",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "error", "--lifespan", "on"]
    process = subprocess.Popen(command, env={**os.environ, **SERVER_ENV}, stdout=subprocess.DEVNULL,
                               preexec_fn=die_with_parent if sys.platform == "linux" else None)
    atexit.register(stop_server, process)
    os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
    os.environ[TEMPORARY_API] = "1"
    return StartingApi(process, lock)


def wait_for_api(starting: StartingApi | None, timeout_s: float | None = None) -> None:
    """Block until the server started by start_prefect_api answers its health check."""
    if starting is None:
        return
    try:
        wait_for_health(starting.process, timeout_s)
    finally:
        starting.lock.release()


def wait_for_health(process: subprocess.Popen, timeout_s: float | None) -> None:
    from tasks.servers.ui import wait_answer

    timeout_s = timeout_s or float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120"))
    found = wait_answer(os.environ["PREFECT_API_URL"] + "/health", process, timeout_s, interval_s=0.1)
    if found == "exited":
        raise LmforgeError(f"Prefect's temporary server exited with status {process.returncode} before it "
                           "answered; rerun with --debug to see its output, or set PREFECT_API_URL to a "
                           "running server (`prefect server start`).")
    if found == "timed out":
        stop_server(process)
        raise LmforgeError(f"Prefect's temporary server did not answer within {timeout_s:.0f} s; raise "
                           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS on a slow machine, or set "
                           "PREFECT_API_URL to a running server.")


def find_paused_run(run: str):
    """The paused flow run named `run` (or with that id), through the Prefect API in PREFECT_API_URL. A run that is
    not waiting, or an API that does not answer, is one sentence."""
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterName

    api = os.environ.get("PREFECT_API_URL", "")
    try:
        named = FlowRunFilter(id=FlowRunFilterId(any_=[UUID(run)]))
    except ValueError:
        named = FlowRunFilter(name=FlowRunFilterName(any_=[run]))
    try:
        with get_client(sync_client=True) as client:
            # Names repeat across runs: the one that waits first, then the newest.
            found = sorted(client.read_flow_runs(flow_run_filter=named),
                           key=lambda r: (not (r.state and r.state.is_paused()), -(r.created.timestamp() if r.created else 0)))
    except Exception as error:  # noqa: BLE001 - httpx's and Prefect's errors alike mean nobody answered
        raise LmforgeError(f"the Prefect API at {api} did not answer ({type(error).__name__}); pass the --api the "
                           "waiting run printed, or start `lmforge ui`.") from None
    if not found:
        raise LmforgeError(f"no flow run {run!r} at {api}; the waiting run printed its name (lmforge approve NAME).")
    flow_run = found[0]
    if not flow_run.state or not flow_run.state.is_paused():
        state = flow_run.state.name if flow_run.state else "without a state"
        raise LmforgeError(f"flow run {flow_run.name} is {state}, not waiting for approval; nothing was answered.")
    return flow_run


def answer_paused_run(flow_run, answer: dict) -> str:
    """Resume the paused `flow_run` with `answer` as its typed input; its name."""
    from prefect.flow_runs import resume_flow_run

    try:
        resume_flow_run(flow_run.id, run_input=answer)
    except Exception as error:  # noqa: BLE001 - a pause that just timed out, or an answer the form refuses
        raise LmforgeError(f"flow run {flow_run.name} could not take the answer: {redact_error(error)}") from None
    return flow_run.name

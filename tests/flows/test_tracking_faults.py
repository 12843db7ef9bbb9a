"""The MLflow tracking server at 3 a.m.: down before a run, or stopped while it trains. Each time one sentence and a
non-zero exit, the trained model kept and registered by the next run without training again, and the credentials
(user:password in the tracking URI, *_KEY / *_TOKEN / *PASSWORD* variables) nowhere: not in the output, not in any
file of the project (MLflow and Prefect stores, data/, logs) or of the tracking server's store."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port, make_project, merge
from tests.flows.test_overlap import TINY

pytestmark = [pytest.mark.flow, pytest.mark.faults]

SECRET = "s3cr3t-t0ken"


def start_mlflow(store: Path, port: int) -> subprocess.Popen:
    store.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
                               f"sqlite:///{store / 'mlflow.db'}", "--artifacts-destination", (store / "artifacts").as_uri(),
                               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return server
        except OSError:
            assert server.poll() is None, "mlflow server exited"
            time.sleep(0.5)
    raise AssertionError("mlflow server did not answer in 120 s")


def stop_mlflow(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def start_run(root: Path, uri: str, **extra: str) -> subprocess.Popen:
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"} | extra
    env |= {"PREFECT_HOME": str(root / ".prefect"), "MLFLOW_TRACKING_URI": uri}
    # Secrets a machine at 3 a.m. has in its environment: none may reach a log, a store or the output.
    env |= {"AWS_SECRET_ACCESS_KEY": SECRET, "MLFLOW_TRACKING_TOKEN": SECRET, "LMFORGE_TEST_API_KEY": SECRET,
            "DB_PASSWORD": SECRET}
    return subprocess.Popen([sys.executable, "-m", "cli", "run"], cwd=root, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def files_holding(folder: Path, text: str) -> list[str]:
    """Every file under `folder` (links not followed) whose bytes contain `text`: databases and logs included."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink() and text.encode() in path.read_bytes():
            found.append(str(path))
    return found


def test_tracking_server_down_then_stopped_mid_run_then_back(tmp_path):
    root = make_project(tmp_path / "project", merge(TINY, {"promote": {"floors": {"f1_macro": 1.0}}}))  # no export
    port, store = free_port(), tmp_path / "mlflow-store"
    uri = f"http://lmforge:{SECRET}@127.0.0.1:{port}"

    # 1. Down before the run: one sentence within MLflow's bounded retries, before anything is ingested.
    start = time.monotonic()
    down = start_run(root, uri)
    out, err = down.communicate(timeout=120)
    assert down.returncode == 1, err[-3000:]
    assert f"the MLflow tracking server at http://***@127.0.0.1:{port} did not answer" in err, err[-3000:]
    assert time.monotonic() - start < 60 and "Traceback" not in err and SECRET not in out + err
    assert not (root / "data/dataset").exists()

    # 2. Stopped while training (SIGSTOP: it hangs, as a server on a dead disk or a locked database does): training
    # finishes, the first step after it fails in one sentence, the model stays.
    server = start_mlflow(store, port)
    try:
        # Phase 1 showed the bounded retries; here one try with a 3 s timeout keeps the test short.
        run = start_run(root, uri, MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT="3")
        seen = ""
        for line in run.stderr:
            seen += line
            if "[done] tokenize" in line:
                break
        os.killpg(server.pid, signal.SIGSTOP)
        out, err = run.communicate(timeout=600)
        err = seen + err
        assert run.returncode == 1, err[-3000:]
        # The first step after training that talks to MLflow (evaluate logs its metrics) says so.
        assert re.search(r"did not answer during (evaluate|register)", err), err[-3000:]
        assert "the trained model is kept in data/model" in err, err[-3000:]
        assert "Traceback" not in err and SECRET not in out + err
        assert (root / "data/model/lmforge.json").is_file()

        # 3. Back: the next run registers that model without training it again.
        os.killpg(server.pid, signal.SIGCONT)
        again = start_run(root, uri)
        out, err = again.communicate(timeout=600)
        assert again.returncode == 0, err[-3000:]
        assert "[reuse] data/model" in err and "[done] train" in err, err[-3000:]
        assert "version 1" in out and SECRET not in out + err, out
        from mlflow import MlflowClient

        client = MlflowClient(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}")
        (version,) = client.search_model_versions("name='test-reviews'")
        assert "eval_f1_macro" in client.get_run(version.run_id).data.metrics, "the test metrics are on its run"
    finally:
        os.killpg(server.pid, signal.SIGCONT)
        stop_mlflow(server)
    assert files_holding(root, SECRET) == [] and files_holding(store, SECRET) == []

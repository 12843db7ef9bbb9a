"""Work pools and shared stores, as on several machines: the project's prefect.yaml deployed on a process work pool
of a real Prefect server and run by real `prefect worker`s; PostgreSQL under the MLflow tracking server and the
Prefect server; MLflow artifacts and DVC's remote on one shared folder; two workers (each with its own project folder,
as two machines would have) training at once. The registry stays consistent: one promotion at a time, each against
the champion the other left. Both servers have their own authentication on, as the multi-machine set-up requires:
MLflow's basic-auth app (the workers act as user `trainer`) and Prefect's auth string; callers without them are
refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tasks.servers.ui import wait_answer
from tests.conftest import REPO, free_port, make_project, merge, prefect_env, start_prefect_server
from tests.flows.test_overlap import TINY
from tests.postgres import running_postgres

pytestmark = [pytest.mark.flow, pytest.mark.scale]
BIN = Path(sys.executable).parent


def create_user(tracking: str, name: str, password: str, admin: str) -> None:
    """A user of MLflow's basic-auth app, created by its admin through the server's REST API."""
    import base64
    import urllib.request

    request = urllib.request.Request(f"{tracking}/api/2.0/mlflow/users/create", method="POST",
                                     data=json.dumps({"username": name, "password": password}).encode(),
                                     headers={"Content-Type": "application/json", "Authorization": "Basic " +
                                              base64.b64encode(admin.encode()).decode()})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200


def machine(root: Path, shared: Path, deployment: str, seed: int) -> Path:
    """One worker machine's project folder: its own checkout, DVC's remote on the shared folder."""
    make_project(root, merge(TINY, {"project": {"seed": seed}}))
    (root / "flows").symlink_to(REPO / "flows")
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    if spec["deployments"][0]["name"] != deployment:  # machine A deploys the project's prefect.yaml as it is
        spec["deployments"][0]["name"] = deployment
    (root / "prefect.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    subprocess.run([str(BIN / "dvc"), "remote", "add", "--local", "--default", "shared", str(shared / "dvc-remote")],
                   cwd=root, check=True, capture_output=True)
    return root


def test_two_workers_train_at_once_against_postgres_backed_stores(tmp_path, monkeypatch):
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts

    from tasks.servers.doors import mlflow_auth, prefect_auth
    from tests.flows.test_attacks import status_of

    shared = tmp_path / "shared"
    start = time.monotonic()
    processes: list[subprocess.Popen] = []
    secrets = {"MLFLOW_AUTH_ADMIN_PASSWORD": "admin-pass-7", "MLFLOW_FLASK_SERVER_SECRET_KEY": "s" * 32,
               "PREFECT_SERVER_API_AUTH_STRING": "ops:prefect-pass-7"}
    with running_postgres(tmp_path, databases=("mlflow", "prefect", "mlflow_auth")) as database:
        try:
            mlflow_port = free_port()
            tracking = f"http://127.0.0.1:{mlflow_port}"
            locked, auth_env = mlflow_auth(tmp_path / "mlflow-auth", database.url("mlflow_auth"))
            processes.append(subprocess.Popen(
                [str(BIN / "mlflow"), "server", *locked, "--host", "127.0.0.1", "--port", str(mlflow_port),
                 "--workers", "1"], env=os.environ | auth_env | secrets | {
                    "MLFLOW_BACKEND_STORE_URI": database.url("mlflow"),
                    "MLFLOW_ARTIFACTS_DESTINATION": str(shared / "mlflow-artifacts")},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
            assert wait_answer(f"{tracking}/health", processes[-1], 120) == "answered", "mlflow server"
            print(f"mlflow server answered after {time.monotonic() - start:.0f} s")
            create_user(tracking, "trainer", "trainer-pass-7", "admin:admin-pass-7")
            # Leases on disk: a server restarted while a run holds the registry's slot still frees it when it expires.
            server, api = start_prefect_server(tmp_path / "prefect-server", secrets | prefect_auth("http://127.0.0.1") | {
                "PREFECT_API_DATABASE_CONNECTION_URL": database.url("prefect", driver="postgresql+asyncpg"),
                "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect.server.concurrency.lease_storage.filesystem"})
            processes.append(server)
            print(f"prefect server answered after {time.monotonic() - start:.0f} s")
            assert status_of(f"{tracking}/api/2.0/mlflow/registered-models/search") == 401
            assert status_of(f"{api}/flow_runs/filter", method="POST") in (401, 403)  # 403: no CSRF token either
            logins = {"MLFLOW_TRACKING_USERNAME": "trainer", "MLFLOW_TRACKING_PASSWORD": "trainer-pass-7",
                      "PREFECT_API_AUTH_STRING": secrets["PREFECT_SERVER_API_AUTH_STRING"]}
            for key, value in logins.items():
                monkeypatch.setenv(key, value)  # this process reads the registry as the trainer too
            env = prefect_env(tmp_path / "client", api) | {"MLFLOW_TRACKING_URI": tracking} | logins
            roots = [machine(tmp_path / "a", shared, "lmforge-retrain", 13),
                     machine(tmp_path / "b", shared, "retrain-b", 14)]

            def prefect(*args: str, cwd: Path = tmp_path) -> None:
                done = subprocess.run([str(BIN / "prefect"), *args], cwd=cwd, env=env, text=True, capture_output=True,
                                      timeout=300)
                assert done.returncode == 0, f"prefect {' '.join(args)}: {done.stdout[-2000:]}{done.stderr[-3000:]}"

            prefect("work-pool", "create", "lmforge", "--type", "process")
            for root, name in zip(roots, ("lmforge-retrain", "retrain-b")):
                prefect("--no-prompt", "deploy", "--name", name, cwd=root)
            for name in ("one", "two"):  # one flow run each: both train at the same time
                processes.append(subprocess.Popen(
                    [str(BIN / "prefect"), "worker", "start", "--pool", "lmforge", "--name", name, "--limit", "1"],
                    cwd=tmp_path, env=env | {"PREFECT_WORKER_QUERY_SECONDS": "1"},
                    stdout=open(tmp_path / f"worker-{name}.log", "w"), stderr=subprocess.STDOUT,
                    start_new_session=True))
            runs = [subprocess.Popen([str(BIN / "prefect"), "deployment", "run", f"retrain/{name}", "--watch",
                                      "--watch-interval", "2", "--watch-timeout", "600"], cwd=tmp_path, env=env,
                                     text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                    for name in ("lmforge-retrain", "retrain-b")]
            for run in runs:
                out, err = run.communicate(timeout=660)
                logs = "".join(path.read_text()[-3000:] for path in tmp_path.glob("worker-*.log"))
                assert run.returncode == 0 and "Completed" in out, out[-3000:] + err[-3000:] + logs
            print(f"both runs completed {time.monotonic() - start:.0f} s after the test began")
            # Both trained at once: two workers, each with one run; the registry took them one after the other.
            name = TINY["registry"]["model_name"]
            client = MlflowClient(tracking, tracking)
            versions = sorted(int(v.version) for v in client.search_model_versions(f"name='{name}'"))
            assert versions == [1, 2]
            records = sorted((json.loads((root / "data/promotion.json").read_text()) for root in roots),
                             key=lambda record: int(record["challenger_version"]))
            assert records[0]["champion_before"] is None, "the first version met no champion"
            assert records[1]["champion_before"] == records[0]["champion_after"], \
                "the second promotion compared against the champion the first one left"
            assert str(client.get_model_version_by_alias(name, "champion").version) == records[1]["champion_after"]
            for version in versions:  # artifacts on the shared folder, served through the tracking server
                files = download_artifacts(artifact_uri=client.get_model_version_download_uri(name, str(version)),
                                           tracking_uri=tracking, dst_path=str(tmp_path / f"download-{version}"))
                assert any(Path(files).rglob("model.safetensors")), f"version {version}'s weights came back"
            assert len(list((shared / "mlflow-artifacts").rglob("model.safetensors"))) >= 2
            pushed = [path for path in (shared / "dvc-remote").rglob("*") if path.is_file()]
            assert pushed, "each run pushed its dataset version to the shared DVC remote"
            # The rows are in PostgreSQL, not in a SQLite file somewhere.
            assert database.query("mlflow", "select count(*) from model_versions") == 2
            assert database.query("prefect", "select count(*) from flow_run where state_type = 'COMPLETED'") == 2
            assert database.query("prefect", "select max(start_time) < min(end_time) from flow_run"), \
                "the two runs overlapped in time"
            assert database.query("prefect", f"select active_slots from concurrency_limit_v2 where name = "
                                             f"'lmforge-registry-{name}'") == 0
            assert not list((tmp_path / "a").glob("mlruns/*.db")) and not list((tmp_path / "b").glob("mlruns/*.db"))
        finally:
            for process in reversed(processes):
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=30)

"""prefect.yaml as users run it: `prefect deploy` puts the retrain flow on a process work pool of a real Prefect server,
and a real `prefect worker` runs a deployment run to completion in the project folder."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, make_project, prefect_env, registry, start_prefect_server
from tests.flows.test_overlap import TINY

pytestmark = [pytest.mark.flow, pytest.mark.scale]
PREFECT = str(Path(sys.executable).parent / "prefect")


def prefect(args: list[str], cwd: Path, env: dict, timeout_s: float = 300) -> str:
    done = subprocess.run([PREFECT, *args], cwd=cwd, env=env, text=True, capture_output=True, timeout=timeout_s)
    assert done.returncode == 0, f"prefect {' '.join(args)}: {done.stdout[-2000:]}{done.stderr[-3000:]}"
    return done.stdout


def test_a_deployment_on_a_process_pool_runs_to_completion_through_a_worker(tmp_path):
    root = make_project(tmp_path / "project", TINY)
    shutil.copy(REPO / "prefect.yaml", root / "prefect.yaml")
    (root / "flows").symlink_to(REPO / "flows")  # the deployment's entrypoint is a path in the project folder
    server, api = start_prefect_server(tmp_path / "server")
    env = prefect_env(tmp_path / "client", api)
    worker = None
    try:
        prefect(["work-pool", "create", "lmforge", "--type", "process"], root, env)
        deployed = prefect(["--no-prompt", "deploy", "--name", "lmforge-retrain"], root, env)
        assert "retrain/lmforge-retrain" in deployed, deployed
        # The worker polls every second (10 s by default); its flow runs are subprocesses in the pull step's folder.
        worker = subprocess.Popen([PREFECT, "worker", "start", "--pool", "lmforge"], cwd=tmp_path,
                                  env=env | {"PREFECT_WORKER_QUERY_SECONDS": "1"}, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, start_new_session=True)
        ran = subprocess.run([PREFECT, "deployment", "run", "retrain/lmforge-retrain", "--watch", "--watch-interval",
                              "2", "--watch-timeout", "480"], cwd=tmp_path, env=env, text=True, capture_output=True,
                             timeout=540)
        assert ran.returncode == 0 and "Completed" in ran.stdout, ran.stdout[-3000:] + ran.stderr[-3000:]
        versions = registry(root).search_model_versions(f"name='{TINY['registry']['model_name']}'")
        assert [str(v.version) for v in versions] == ["1"], "the worker's run registered one version, in the project"
        assert str(registry(root).get_model_version_by_alias(TINY["registry"]["model_name"], "champion").version) == "1"
    finally:
        for process in (worker, server):
            if process and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        if worker:
            print(worker.communicate(timeout=30)[0][-3000:])  # shown when the test fails

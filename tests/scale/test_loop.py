"""The loop after promotion, end to end with real processes: a Prefect server, the project's prefect.yaml deployed on
a process work pool (its triggers become automations), a `prefect worker`, `lmforge serve`. The champion serves
in-distribution and then shifted traffic; `lmforge monitor` flags the shift, and its event runs the retrain
deployment through the worker (nothing new to learn: it skips, saying it was started by drift); labels fed back for
served requests make the inputs change, `lmforge watch --once` says so, and that event's retrain trains on a new data
version whose challenger goes through the gate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO, make_project, merge, prefect_env, registry, start_prefect_server
from tests.flows.test_overlap import TINY
from tests.flows.test_retrain import serving

pytestmark = [pytest.mark.flow, pytest.mark.scale]
BIN = Path(sys.executable).parent
QUESTIONS = [f"what is the {word} of {place}?" for word in ("capital", "population", "area", "currency", "anthem")
             for place in ("france", "peru", "japan", "kenya", "norway", "chile", "egypt", "india")]


def deployed_runs(api: str) -> list[dict]:
    """The flow runs of deployments (not the CLI's own runs), oldest first."""
    request = urllib.request.Request(f"{api}/flow_runs/filter", data=json.dumps({"sort": "START_TIME_ASC"}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return [run for run in json.loads(response.read()) if run["deployment_id"]]


def wait_for_run(api: str, count: int, timeout_s: float = 400) -> dict:
    """The `count`-th deployment run, once it is final."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = deployed_runs(api)
        if len(runs) >= count and runs[count - 1]["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return runs[count - 1]
        time.sleep(2)
    raise AssertionError(f"no final deployment run #{count} within {timeout_s:g} s: {deployed_runs(api)}")


def test_drift_and_labels_retrain_through_prefect_triggers(tmp_path, monkeypatch):
    from tasks.kinds.classification.builtin import generate_reviews

    # Labels fed back may repeat a training or test text: dropped from train, as a user running feedback would set.
    # 200 labels beside a few hundred source rows: over the default feedback.max_share, and every label is trained on.
    root = make_project(tmp_path / "project", merge(TINY, {"train": {"max_steps": 60}, "validate": {
        "policies": {"duplicates": "drop", "leakage": "drop"}}, "feedback": {"max_share": 0.5, "confident": None}}))
    (root / "flows").symlink_to(REPO / "flows")
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    retrain = spec["deployments"][0]
    retrain["schedules"][0]["active"] = False  # only the events start runs here
    for trigger in retrain["triggers"]:
        trigger["schedule_after"] = "PT2S"  # the shipped minute of debounce, shortened for the test
    (root / "prefect.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    monkeypatch.chdir(root)
    processes: list[subprocess.Popen] = []
    try:
        server, api = start_prefect_server(tmp_path / "prefect-server")
        processes.append(server)
        env = prefect_env(tmp_path / "client", api) | {"HF_HUB_OFFLINE": "1"}
        for key, value in env.items():
            monkeypatch.setenv(key, value)

        def run(*args: str, program: str = "lmforge", code: int = 0) -> str:
            done = subprocess.run([str(BIN / program), *args], cwd=root, env=env, text=True, capture_output=True,
                                  timeout=600)
            assert done.returncode == code, f"{program} {' '.join(args)}: {done.stdout[-3000:]}{done.stderr[-3000:]}"
            return done.stdout

        run("run")  # version 1 becomes the champion
        run("work-pool", "create", "lmforge", "--type", "process", program="prefect")
        run("--no-prompt", "deploy", "--name", "lmforge-retrain", program="prefect")
        processes.append(subprocess.Popen([str(BIN / "prefect"), "worker", "start", "--pool", "lmforge"], cwd=root,
                                          env=env | {"PREFECT_WORKER_QUERY_SECONDS": "1"}, start_new_session=True,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        reviews = generate_reviews(200, 4321)
        with serving() as send:
            status, calm = send(json.dumps({"inputs": reviews["text"].tolist()}).encode())
            assert status == 200, calm
        shifted = "paths.inference_log=data/inference-shifted"  # the monitor's window: the shifted traffic only
        with serving("--set", shifted) as send:
            status, _ = send(json.dumps({"inputs": QUESTIONS * 4}).encode())
            assert status == 200
        report = json.loads(run("monitor", "--json", "--set", shifted, "--set", "monitor.on_drift=retrain", code=3))
        assert report["drift"] and report["tests"]["input_embedding_mmd"]["p_value"] < 0.01, report
        drift_run = wait_for_run(api, 1)
        assert drift_run["parameters"]["trigger"] == "drift" and drift_run["state_type"] == "COMPLETED", drift_run
        assert drift_run["state_name"] == "Skipped", drift_run  # the same data and params: nothing to retrain

        labels = pd.DataFrame({"request_id": calm["request_ids"], "label": reviews["label"].tolist()})
        labels.to_csv(root / "labels.csv", index=False)
        assert json.loads(run("feedback", "--file", "labels.csv", "--json"))["rows"] == 200
        assert "lmforge.data.changed" in run("watch", "--once")
        data_run = wait_for_run(api, 2)
        assert data_run["parameters"]["trigger"] == "data change" and data_run["state_name"] == "Completed", \
            data_run["state"]["message"]
        client = registry(root)
        first, second = (client.get_model_version(TINY["registry"]["model_name"], str(n)) for n in (1, 2))
        assert first.tags["data_version"] != second.tags["data_version"], "the labels made a new data version"
        record = json.loads((root / "data/promotion.json").read_text())
        assert record["challenger_version"] == "2" and record["verdict"] in ("promoted", "rejected"), record
        tagged = {run.data.tags.get("trigger") for run in client.search_runs(
            [client.get_experiment_by_name(spec_experiment(root)).experiment_id])}
        assert {"manual", "drift", "data change"} <= tagged, tagged
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)


def spec_experiment(root: Path) -> str:
    from tasks.core.config import load_params

    return load_params(root / "params.yaml").registry.experiment

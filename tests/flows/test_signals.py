"""A run stopped by SIGTERM (what a scheduler or `kill` sends) cleans up after itself: nothing left running, the
MLflow run marked FAILED with the signal, the lock free for the next run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.conftest import FAST_PARAMS, make_project, merge, registry

pytestmark = [pytest.mark.flow, pytest.mark.faults]


def test_sigterm_mid_training_leaves_nothing_running_and_the_run_failed(tmp_path):
    root = make_project(tmp_path / "project", merge(FAST_PARAMS, {"train": {"epochs": 50}}))
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(root / ".prefect")
    run = subprocess.Popen([sys.executable, "-m", "cli", "run"], cwd=root, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    seen = ""
    for line in run.stderr:  # the run's progress lines: wait until training has started
        seen += line
        if "[done] tokenize" in line:
            break
    assert "[done] tokenize" in seen, seen[-3000:]
    time.sleep(3)
    children = psutil.Process(run.pid).children(recursive=True)
    assert any("uvicorn" in " ".join(child.cmdline()) for child in children), "the run's Prefect API was not seen"
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 130, (out + err)[-3000:]
    assert "error: the run was stopped by SIGTERM" in err, err[-3000:]
    gone, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, [child.cmdline() for child in alive]
    client = registry(root)
    runs = client.search_runs([experiment.experiment_id for experiment in client.search_experiments()])
    stopped = max(runs, key=lambda found: found.info.start_time)
    assert stopped.info.status == "FAILED" and stopped.data.tags["error"] == "stopped by SIGTERM", stopped.data.tags
    assert not client.search_model_versions("name='test-reviews'"), "a stopped run registered nothing"
    from filelock import FileLock

    FileLock(str(root / "data/.retrain.lock")).acquire(timeout=0)  # free for the next run


def start_run(root, *extra: str) -> subprocess.Popen:
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(root / ".prefect")
    return subprocess.Popen([sys.executable, "-m", "cli", "run", *extra], cwd=root, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def test_kill_9_of_the_process_group_then_the_next_run_resumes(tmp_path):
    """A real SIGKILL of the whole process group after the first checkpoint; the next run resumes from a complete
    checkpoint and ends close to an uninterrupted run with the same seed. All in one project, so that the runs share
    one tokenized dataset."""
    import json

    root = make_project(tmp_path / "project", merge(FAST_PARAMS, {"data": {"sample": {"rows": 900}},
                                                                  "validate": {"min_rows_per_class": 10},
                                                                  "train": {"epochs": 3, "early_stopping_patience": 0},
                                                                  "promote": {"floors": {"f1_macro": 1.0}}}))  # no export
    whole = start_run(root)
    _, whole_err = whole.communicate(timeout=600)
    assert whole.returncode == 0 and "[resume]" not in whole_err, whole_err[-3000:]
    uninterrupted = json.loads((root / "metrics/eval.json").read_text())["eval_f1_macro"]
    run = start_run(root, "--force")
    deadline = time.monotonic() + 300
    while not list((root / "data/checkpoints").glob("*/checkpoint-*/trainer_state.json")):
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()[1][-3000:]
        time.sleep(0.2)
    group = [psutil.Process(run.pid), *psutil.Process(run.pid).children(recursive=True)]
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(timeout=30)
    gone, alive = psutil.wait_procs(group, timeout=15)
    assert not alive, [process.cmdline() for process in alive]
    resumed = start_run(root, "--force")
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err[-3000:]
    assert "[resume] from checkpoint-" in err and "[wait]" not in err, err[-3000:]  # the lock was free
    after = json.loads((root / "metrics/eval.json").read_text())["eval_f1_macro"]
    assert abs(after - uninterrupted) <= 0.02, (after, uninterrupted)  # same seed, data, tokenizer and steps
    print(f"macro F1 after kill -9 and resume {after:.4f}, uninterrupted {uninterrupted:.4f}")


def test_kill_9_between_registering_and_the_alias_then_the_next_run_registers_cleanly(tmp_path):
    """The registry window: a real SIGKILL after the version is registered (its model files logged first) and before
    its alias and verdict. Afterwards every version has its files and the aliases point at complete versions; the next
    run registers the same trained model again, without training it, and decides."""
    from tests.flows.test_overlap import TINY

    root = make_project(tmp_path / "project", merge(TINY, {"promote": {"floors": {"f1_macro": 1.0}}}))  # no export
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    env |= {"PREFECT_HOME": str(root / ".prefect"), "LMFORGE_FAILPOINT": "register:registered"}
    run = subprocess.Popen([sys.executable, "-m", "cli", "run"], cwd=root, env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    seen = ""
    for line in run.stderr:
        seen += line
        if "[failpoint] register:registered" in line:
            break
    assert "[failpoint]" in seen, seen[-3000:]
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(timeout=30)
    client = registry(root)
    (killed,) = client.search_model_versions("name='test-reviews'")
    assert not client.get_registered_model("test-reviews").aliases and "promotion_verdict" not in killed.tags

    again = start_run(root)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err[-3000:]
    assert "[reuse] data/model" in err and "version 2" in out, out + err[-2000:]
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlruns/mlflow.db'}")
    for version in client.search_model_versions("name='test-reviews'"):  # each has its model files
        assert "MLmodel" in os.listdir(mlflow.artifacts.download_artifacts(version.source, dst_path=str(tmp_path / str(version.version))))
    aliases = client.get_registered_model("test-reviews").aliases
    assert aliases and {str(version) for version in aliases.values()} == {"2"}, aliases
    assert client.get_model_version("test-reviews", "2").tags["promotion_verdict"] == "rejected"  # by the floor

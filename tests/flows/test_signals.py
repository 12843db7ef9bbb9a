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

pytestmark = pytest.mark.flow


def test_sigterm_mid_training_leaves_nothing_running_and_the_run_failed(tmp_path):
    root = make_project(tmp_path / "project", merge(FAST_PARAMS, {"train": {"epochs": 50}}))
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(root / ".prefect")
    run = subprocess.Popen([sys.executable, "-m", "flows.cli", "run"], cwd=root, env=env, stdout=subprocess.PIPE,
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
    return subprocess.Popen([sys.executable, "-m", "flows.cli", "run", *extra], cwd=root, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def test_kill_9_of_the_process_group_then_the_next_run_resumes(tmp_path):
    """A real SIGKILL of the whole process group after the first checkpoint; the next run resumes from a complete
    checkpoint and ends close to an uninterrupted run with the same seed. All in one project, so that the runs share
    one trained tokenizer (tokenizers' WordPiece training varies from run to run, upstream tokenizers#1794)."""
    import json

    root = make_project(tmp_path / "project", merge(FAST_PARAMS, {"data": {"sample": {"rows": 1500}},
                                                                  "validate": {"min_rows_per_class": 10},
                                                                  "train": {"epochs": 3, "early_stopping_patience": 0}}))
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

"""`lmforge sweep`: 4 Optuna trials as Prefect tasks on 2 local Dask workers, run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import FAST_PARAMS, make_project, merge, registry

pytestmark = pytest.mark.scale

SWEEP = {"data": {"sample": {"rows": 900}},
         "train": {"epochs": 3, "early_stopping_patience": 0, "warmup_steps": 20},
         "sweep": {"trials": 4, "workers": 2, "sampler": "tpe", "pruning": True,
                   "space": {"train.learning_rate": {"low": 0.0003, "high": 0.003, "log": True},
                             "train.batch_size": {"choices": [16, 32]}}}}


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("sweep") / "project", merge(FAST_PARAMS, SWEEP))
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(root / ".prefect")
    done = subprocess.run([sys.executable, "-m", "cli", "sweep"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=900)
    return root, done


def test_the_sweep_ends_with_a_summary_of_every_trial(swept):
    _, done = swept
    assert done.returncode == 0, done.stderr[-3000:]
    trials = [line for line in done.stdout.splitlines() if line.lstrip(" *").startswith("trial ")]
    assert len(trials) == 4 and sum(line.startswith(" *") for line in trials) == 1, done.stdout
    assert all(("complete" in line or "pruned" in line) for line in trials), done.stdout
    assert "best trial" in done.stdout and "promotion" in done.stdout


def test_exactly_one_challenger_from_the_best_trial_under_the_parent_run(swept):
    root, done = swept
    client = registry(root)
    versions = client.search_model_versions("name='test-reviews'")
    assert len(versions) == 1, versions
    challenger = client.get_model_version_by_alias("test-reviews", "challenger")
    experiment = client.get_experiment_by_name("lmforge")
    runs = client.search_runs([experiment.experiment_id])
    parents = [run for run in runs if run.info.run_name == "sweep"]
    assert len(parents) == 1
    parent = parents[0]
    children = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(run.info.run_name for run in children) == [f"trial-{n}" for n in range(4)]
    best = parent.data.tags["best_run_id"]
    assert challenger.run_id == best and best in {run.info.run_id for run in children}
    # Chosen by validation score, never by test: the completed trial whose best epoch scored highest.
    best_scores = {run.info.run_id: max(m.value for m in client.get_metric_history(run.info.run_id, "val_f1_macro"))
                   for run in children if run.data.tags.get("sweep_state") == "complete"}
    assert best_scores[best] == max(best_scores.values()), best_scores  # trials may tie (a tiny model may collapse)
    assert parent.data.metrics["best_val_f1_macro"] == pytest.approx(best_scores[best])

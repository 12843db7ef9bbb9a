"""Two retrain runs started together on one project: the lock makes the second wait, the registry stays whole."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.conftest import FAST_PARAMS, make_project, merge, registry

# Two lmforge processes at once: the scale tier (make test-scale), which .ci/run runs.
pytestmark = [pytest.mark.flow, pytest.mark.scale]

# Runs, not exports, are what the tests using TINY look at: no export (10-15 s) per promoted run. The gate lets any
# model through (no floor, no significance, no baseline): these tests check the registry, the approval, the servers
# and the faults around a promotion, not the model. 30 steps learn nothing: the model gives every row the majority
# label (macro F1 0.2016, exactly the majority baseline's), which promote.beat_baseline would rightly refuse.
TINY = merge(FAST_PARAMS, {"data": {"sample": {"rows": 600}}, "train": {"max_steps": 30},
                           "promote": {"floors": {"f1_macro": 0.0}, "significance": {"test": "none"},
                                       "beat_baseline": False},
                           "export": {"enabled": False}})


def test_overlapping_runs_take_turns_and_leave_a_consistent_registry(tmp_path):
    root = make_project(tmp_path / "project", TINY)
    env = {**os.environ, "PREFECT_HOME": str(root / ".prefect")}
    env.pop("PREFECT_API_URL", None)
    start = lambda *extra: subprocess.Popen([sys.executable, "-m", "cli", "run", *extra], cwd=root, env=env,
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = start()
    time.sleep(1)
    second = start("--set", "project.seed=14")  # other inputs, so it trains too rather than skipping
    outputs = [process.communicate(timeout=600) for process in (first, second)]
    for process, (out, err) in zip((first, second), outputs):
        assert process.returncode == 0, err[-3000:]
    waited = [err for _, err in outputs if "[wait] another retrain run holds" in err]
    assert len(waited) == 1, "exactly one run should have waited for the other"
    client = registry(root)
    versions = {str(v.version): v for v in client.search_model_versions("name='test-reviews'")}
    assert sorted(versions) == ["1", "2"]
    # Each run made exactly one version and one decision, with its own run's data, in turn.
    assert {v.run_id for v in versions.values()} == {v.tags["run_id"] for v in versions.values()}
    assert all(v.tags["promotion_verdict"] in ("promoted", "rejected") for v in versions.values())
    champion = client.get_model_version_by_alias("test-reviews", "champion")
    history = client.get_registered_model("test-reviews").tags["champion_history"].split(",")
    assert history[0] == "1" and history[-1] == str(champion.version)
    assert str(client.get_model_version_by_alias("test-reviews", "challenger").version) == "2"

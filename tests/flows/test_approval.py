"""Approval through the Prefect API with real processes: `lmforge run` pauses before @champion moves, the gate's
evidence on its flow run; `lmforge approve` (another process) approves or rejects it through the run's Prefect
server; a pause nobody answers rejects. Each answer is recorded with who, when and why (self-approval and a bare
Resume through Prefect's API: tests/flows/test_attacks.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import make_project, merge, registry
from tests.flows.test_overlap import TINY

pytestmark = pytest.mark.flow
LMFORGE = [sys.executable, "-m", "cli"]
WAITING = re.compile(r"\[approval\] (\S+) version (\d+) passed the gate; waiting up to \d+ s for: lmforge approve "
                     r"(\S+) --reason TEXT \[--reject\] --api (\S+)")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    # One account runs both sides here, so separation is off in this project's file (the test below turns it on).
    return make_project(tmp_path_factory.mktemp("approval") / "project", merge(TINY, {"promote": {
        "approval": "required", "approval_timeout_s": 300, "approval_separation": False}}))


@contextmanager
def start_run(root: Path, name: str, *overrides: str):
    """`lmforge run` of model `name` in its own process (its own temporary Prefect server); stopped if the test fails,
    so that a run left waiting does not hold the project's lock for the next test."""
    log = root / f"{name}.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("PREFECT_API_URL", None)
    process = subprocess.Popen([*LMFORGE, "run", "--set", f"registry.model_name={name}", *overrides], cwd=root,
                               stdout=subprocess.DEVNULL, stderr=open(log, "w"), env=env)
    try:
        yield process, log
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=60)


def wait_for_pause(process: subprocess.Popen, log: Path, timeout_s: float = 300) -> re.Match:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if found := WAITING.search(log.read_text()):
            return found
        assert process.poll() is None, log.read_text()[-3000:]
        time.sleep(1)
    raise AssertionError(f"no approval request within {timeout_s} s:\n{log.read_text()[-3000:]}")


def answer(root: Path, run: str, api: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*LMFORGE, "approve", run, "--api", api, *args], cwd=root, capture_output=True, text=True,
                          timeout=120)


def decision_of(root: Path, name: str, version: str = "1") -> dict:
    client = registry(root)
    path = client.download_artifacts(client.get_model_version(name, version).run_id, "promotion/promotion.json",
                                     str(root))
    return json.loads(Path(path).read_text())


def decisions_of(root: Path, name: str, version: str = "1") -> list[dict]:
    from tasks.registry.decisions import read_decisions

    return read_decisions(registry(root), name, version)


def test_an_approval_moves_the_champion_and_is_recorded(project):
    with start_run(project, "test-approve") as (process, log):
        found = wait_for_pause(process, log)
        name, version, run, api = found.groups()
        # The evidence is on the flow run's page: a markdown artifact of the gate's decision.
        request = urllib.request.Request(f"{api}/artifacts/filter", data=json.dumps(
            {"artifacts": {"key": {"any_": [f"approval-{version}"]}}}).encode(),
            headers={"Content-Type": "application/json"})
        artifacts = json.loads(urllib.request.urlopen(request, timeout=30).read())
        evidence = artifacts[0]["data"] if artifacts else ""
        assert "# Approve test-approve version 1 as @champion?" in evidence, artifacts
        assert "Model card: test-approve version 1" in evidence and "| f1_macro |" in evidence, evidence
        # No server shadowed it yet: the live-traffic part says so and how.
        assert "## Live traffic" in evidence and "No shadow or canary answers of version 1" in evidence, evidence
        aliases = {alias: str(v) for alias, v in registry(project).get_registered_model(name).aliases.items()}
        assert aliases == {"challenger": "1"}  # nothing moved while it waits
        done = answer(project, run, api, "--reason", "checked the card")
        assert done.returncode == 0 and f"flow run {run}: approved" in done.stdout, done.stdout + done.stderr
        assert process.wait(timeout=300) == 0, log.read_text()[-3000:]
    assert str(registry(project).get_model_version_by_alias(name, "champion").version) == "1"
    approval = decision_of(project, name)["approval"]
    assert approval["decision"] == "approved" and approval["reason"] == "checked the card", approval
    assert approval["by"].startswith("local:") and approval["time"] and approval["waited_s"] > 0, approval
    kinds = [d["kind"] for d in decisions_of(project, name)]
    assert kinds == ["approval asked", "approval", "automatic"], kinds


def test_a_rejection_keeps_the_champion_where_it_was_and_says_who(project):
    with start_run(project, "test-reject") as (process, log):
        name, _, run, api = wait_for_pause(process, log).groups()
        done = answer(project, run, api, "--reject", "--reason", "slices look thin")
        assert done.returncode == 0 and "rejected" in done.stdout, done.stdout + done.stderr
        assert process.wait(timeout=300) == 0, log.read_text()[-3000:]
    version = registry(project).get_model_version(name, "1")
    assert version.tags["promotion_verdict"] == "rejected"
    assert re.fullmatch(r"rejected by local:\S+: slices look thin", version.tags["promotion_reason"]), version.tags
    assert "champion" not in registry(project).get_registered_model(name).aliases
    again = answer(project, run, api, "--reason", "too late")  # the run has ended: nothing waits any more
    assert again.returncode == 1 and ("did not answer" in again.stderr or "not waiting" in again.stderr), again.stderr


def test_a_pause_nobody_answers_rejects(project):
    with start_run(project, "test-timeout", "--set", "promote.approval_timeout_s=6") as (process, log):
        wait_for_pause(process, log)
        assert process.wait(timeout=300) == 0, log.read_text()[-3000:]
    version = registry(project).get_model_version("test-timeout", "1")
    assert version.tags["promotion_verdict"] == "rejected"
    assert version.tags["promotion_reason"].startswith("nobody approved it within promote.approval_timeout_s")
    assert decision_of(project, "test-timeout")["approval"]["decision"] == "timed out"


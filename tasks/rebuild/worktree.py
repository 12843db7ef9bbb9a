"""The recorded commit as a git worktree in a scratch folder, and the rebuild's stages run there by that commit's
own code, with the recorded thread count and a hash seed of the caller's choosing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tasks.core.errors import LmforgeError

DRIVER = "tasks/rebuild/stages.py"  # a commit without it predates `lmforge reproduce`
# Inputs a params file names by a path relative to the project: a data file or folder, fed-back labels, a local
# checkpoint. The worktree holds what the commit tracks; the rest (data is seldom in git) is linked from the project.
PROJECT_PATHS = (("data", "source"), ("paths", "feedback"), ("model", "pretrained"), ("model", "pretrained_encoder"),
                 ("model", "pretrained_decoder"), ("tokenize", "pretrained"))


def git(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=120)


def check_commit(root: Path, commit: str, label: str) -> None:
    """One sentence when the commit cannot be built from here."""
    if not commit or commit == "unknown":
        raise LmforgeError(f"{label} records no git commit (it was trained outside a git repository); it cannot be "
                           "rebuilt from its lineage.")
    if git(root, "cat-file", "-e", f"{commit}^{{commit}}").returncode:
        raise LmforgeError(f"{label} was trained at commit {commit[:12]}, which this repository does not hold; "
                           "`git fetch` the branch that has it, then reproduce again.")


def add_worktree(root: Path, commit: str, target: Path, label: str) -> Path:
    """The commit checked out at `target`; one sentence when it cannot run a rebuild."""
    done = git(root, "worktree", "add", "--detach", "--force", str(target), commit)
    if done.returncode:
        raise LmforgeError(f"git could not check out commit {commit[:12]} in {target} ({done.stderr.strip()[:160]}).")
    if not (target / DRIVER).is_file():
        remove_worktree(root, target)
        raise LmforgeError(f"{label} was trained at commit {commit[:12]}, which predates `lmforge reproduce` (no "
                           f"{DRIVER}); only versions trained by a later commit can be rebuilt.")
    return target


def remove_worktree(root: Path, target: Path) -> None:
    git(root, "worktree", "remove", "--force", str(target))
    git(root, "worktree", "prune")


def link_project_inputs(root: Path, source: Path, params: dict) -> None:
    """Link each relative input the worktree lacks to the project's, so the recorded params run unchanged."""
    for section, key in PROJECT_PATHS:
        value = (params.get(section) or {}).get(key)
        if not isinstance(value, str) or not value or ":" in value or Path(value).is_absolute():
            continue
        target, found = source / value, root / value
        if not target.exists() and found.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(found.resolve(), target_is_directory=found.is_dir())


def run_stage(source: Path, stage: str, params: dict, *, data_version: str = "", threads: int = 0,
              replay: dict | None = None, hash_seed: str = "0", log: Path) -> dict:
    """`python -m tasks.rebuild.stages STAGE` in the worktree; its result, or one sentence naming the log."""
    (source / "rebuild-params.json").write_text(json.dumps(params))
    out = source / f"rebuild-{stage}.json"
    command = [sys.executable, "-m", "tasks.rebuild.stages", stage, "rebuild-params.json", out.name,
               "--data-version", data_version, "--threads", str(threads)]
    if replay:
        command += ["--replay", json.dumps(replay)]
    # PYTHONPATH first: the commit's code, not the installed lmforge, runs the stages; no tracking store is used.
    env = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"} | {
        "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(source), "PREFECT_HOME": str(source / ".prefect")}
    with log.open("a") as sink:
        done = subprocess.run(command, cwd=source, env=env, stdout=sink, stderr=subprocess.STDOUT)
    if done.returncode or not out.is_file():
        raise LmforgeError(f"the rebuild's {stage} stage failed (exit {done.returncode}); its output is in {log}.")
    return json.loads(out.read_text())

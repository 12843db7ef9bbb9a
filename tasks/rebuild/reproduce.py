"""`lmforge reproduce`: rebuild a registered version from its lineage (its commit's code in a git worktree, its
recorded params, its data version) in a scratch folder, compare stage by stage, and record the answer on the version."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from tasks.core.lockfile import describe_lock_change, hash_lock
from tasks.core.runtime import say
from tasks.rebuild.compare import Verdict, compare_artifacts, judge
from tasks.rebuild.data import describe_change, read_manifest, restore_version
from tasks.rebuild.record import VersionRecord, hash_model_files, read_version
from tasks.rebuild.worktree import add_worktree, check_commit, link_project_inputs, remove_worktree, run_stage

TAG = "reproduce"  # on the version: the verdict, when and where


def explain_inexact(meta: dict, here: dict) -> str:
    """Why this rebuild cannot give the same bits, or "" when it should."""
    recorded, reasons = meta.get("environment") or {}, []
    if (meta.get("processes") or 1) > 1:
        reasons.append(f"it was trained by {meta['processes']} DDP processes")
    if recorded.get("gpu") or here.get("gpu"):
        reasons.append(f"a GPU took part ({recorded.get('gpu') or here.get('gpu')})")
    if recorded.get("cpu_capability") != here["cpu_capability"]:
        reasons.append(f"it was trained with {recorded.get('cpu_capability')} kernels, rebuilt with {here['cpu_capability']}")
    if recorded.get("packages_hash") != here["packages_hash"]:
        reasons.append("the installed packages differ from its training environment's")
    return "; ".join(reasons)


def read_outputs(source: Path, params: dict, found: dict) -> dict:
    """The stage result with the model folder's file hashes and the test predictions added."""
    import pandas as pd

    from tasks.registry.predictions import PREDICTIONS_FILE

    if found.get("failed") or "metrics" not in found:
        return found
    predictions = pd.read_parquet(source / params["paths"]["metrics"] / PREDICTIONS_FILE)["predicted"]
    return found | {"files": hash_model_files(source / params["paths"]["model"]),
                    "predictions": predictions.astype(str).tolist()}


def rebuild(record: VersionRecord, source: Path, params: dict, root: Path, threads: int, log: Path) -> dict:
    """Ingest from the source and build on; when the source no longer gives the recorded data version, say which
    files differ and build from the recorded files in the DVC cache, so the later stages are still compared."""
    recorded, replay = record.tags.get("data_version", ""), record.meta.get("budget")
    found = run_stage(source, "build", params, data_version=recorded, threads=threads, replay=replay, log=log)
    if found["data_version"] != recorded:
        dataset, manifest = source / params["paths"]["dataset"], read_manifest(recorded, root)
        found["data_detail"] = describe_change(dataset, manifest)
        if manifest is not None:
            restore_version(recorded, dataset, root, manifest)
            found["data_detail"] += "; the later stages ran on the recorded version from the DVC cache"
            found |= run_stage(source, "model", params, data_version=recorded, threads=threads, replay=replay, log=log)
    return read_outputs(source, params, found)


def retrain(record: VersionRecord, source: Path, params: dict, threads: int, log: Path) -> dict:
    """The model stages again, tokenizer included, with another thread count and hash seed."""
    shutil.rmtree(source / params["paths"]["tokenized"], ignore_errors=True)
    found = run_stage(source, "model", params, data_version=record.tags.get("data_version", ""), threads=threads,
                      replay=record.meta.get("budget"), hash_seed="1", log=log)
    return read_outputs(source, params, found)


def describe_overrides(recorded: dict, rebuild: dict, overrides: list[str]) -> str:
    """Each --change key with its recorded and rebuilt value."""
    def read(tree: dict, key: str):
        for part in key.split("."):
            tree = tree.get(part) if isinstance(tree, dict) else None
        return tree

    keys = [assignment.partition("=")[0] for assignment in overrides]
    return "; ".join(f"{key} {read(recorded, key)!r} recorded, {read(rebuild, key)!r} rebuilt" for key in keys)


def compare_runs(first: dict, second: dict) -> str:
    """The first artifact that differs between two rebuilds (tokenizer, weights, predictions), or ""."""
    found = compare_artifacts(first["files"], first["predictions"], second)
    return f"{found.stage}: {found.detail}" if found else ""


def reproduce_version(params, uri: str, tolerance: float, check_determinism: bool = False,
                      overrides: list[str] | None = None, keep: bool = False) -> dict:
    """The verdict (Verdict.as_dict) with what was rebuilt, how long it took, and where."""
    from tasks.core.config import apply_override

    start, root = time.perf_counter(), Path.cwd()
    scratch = Path(tempfile.mkdtemp(prefix="lmforge-reproduce-"))
    record = read_version(params, uri, scratch)
    label = f"{record.name} version {record.version}"
    commit = record.tags.get("git_commit", "")
    check_commit(root, commit, label)
    source, log = add_worktree(root, commit, scratch / "src", label), scratch / "rebuild.log"
    finished = False
    try:
        settings = json.loads(json.dumps(record.meta["params"]))
        for assignment in overrides or []:
            apply_override(settings, assignment)
        link_project_inputs(root, source, settings)
        environment = record.meta.get("environment") or {}
        threads = int(environment.get("torch_threads") or 0)
        say(f"[reproduce] {label}: commit {commit[:12]}, data version {record.tags.get('data_version')}, "
            f"{threads or 'default'} threads; rebuilding in {scratch}")
        built = rebuild(record, source, settings, root, threads, log) | {"what_if": bool(overrides)}
        # The lock this process's environment was installed from: the stages run in the same one (sys.executable).
        unfaithful = describe_lock_change(environment.get("lock_hash", ""), hash_lock())
        verdict = judge(record, built, explain_inexact(record.meta, built["environment"]), tolerance, unfaithful)
        if verdict.verdict == "differs" and record.tags.get("git_dirty") == "true":
            verdict.detail += ("; note: it was trained from a working tree with uncommitted changes, which its commit "
                               "does not hold")
        result = verdict.as_dict() | {
            "model": record.name, "version": record.version, "commit": commit,
            "data_version": record.tags.get("data_version"), "threads": threads, "steps": built.get("steps"),
            "seconds": round(time.perf_counter() - start, 1), "original_seconds": record.run_seconds,
            "what_if": describe_overrides(record.meta["params"], settings, overrides or []), "log": str(log) if keep else ""}
        if check_determinism:
            other = 1 if threads != 1 else 2
            second = retrain(record, source, settings, other, log)
            result["determinism"] = {"threads": [threads, other], "hash_seeds": ["0", "1"],
                                     "first_difference": compare_runs(built, second) or "none"}
        if not overrides:
            record_verdict(params, record, verdict)
        finished = True
        return result
    finally:
        remove_worktree(root, source)
        if finished and not keep:  # a failed rebuild keeps its log, which the error names
            shutil.rmtree(scratch, ignore_errors=True)


def record_verdict(params, record: VersionRecord, verdict: Verdict) -> None:
    """The answer as a tag on the version (what `lmforge models` and the MLflow UI show) and a line of its card."""
    from datetime import datetime, timezone

    from tasks.card import publish_card
    from tasks.registry import tracking

    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    text = verdict.verdict + (f" at {verdict.stage}: {verdict.detail}" if verdict.stage else "") + f" ({when})"
    tracking.client(params).set_model_version_tag(record.name, record.version, TAG, text[:5000])
    publish_card(params, record.version, record.name, write_local=False)

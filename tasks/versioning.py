"""DVC: record a stage's outputs in dvc.lock and the cache, read their content hash, push to the remote."""

from __future__ import annotations

from pathlib import Path

import yaml

from tasks.errors import LmforgeError


def open_repo(root: str | Path = "."):
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo

    try:
        return Repo(str(Path(root).resolve()))
    except NotDvcRepoError:
        raise LmforgeError(f"{Path(root).resolve()}: not a DVC repository; run lmforge from the project root "
                           "(the folder with dvc.yaml) or run `dvc init` there.") from None


def read_out_hash(out_path: str, root: str | Path = ".") -> str:
    """The content hash dvc.lock records for `out_path` (a folder's hash ends in .dir)."""
    lock = Path(root) / "dvc.lock"
    stages = yaml.safe_load(lock.read_text()).get("stages", {}) if lock.is_file() else {}
    for stage in stages.values():
        for out in stage.get("outs", []):
            if out["path"].rstrip("/") == out_path.rstrip("/"):
                return out["md5"]
    raise LmforgeError(f"dvc.lock: no recorded output {out_path}; run `dvc repro ingest` or `lmforge run` first.")


def commit_stage(stage: str, out_path: str, root: str | Path = ".") -> str:
    """What `dvc commit -f STAGE` does: store the outputs in the cache and dvc.lock; returns their hash."""
    with open_repo(root) as repo:
        repo.commit(stage, force=True)
    return read_out_hash(out_path, root)


def push_stage(stage: str, root: str | Path = ".") -> int:
    """Push a stage's outputs to the default remote; returns how many files went."""
    with open_repo(root) as repo:
        return repo.push(targets=[stage])

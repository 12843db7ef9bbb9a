"""A rebuilt dataset against its recorded data version: DVC's content hash computed the way DVC does (md5 of the
sorted manifest of file md5s), the files that differ named, and the recorded files restored from the DVC cache."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from tasks.core.errors import LmforgeError


def list_entries(folder: Path) -> list[dict[str, str]]:
    return sorted(({"md5": hashlib.md5(path.read_bytes()).hexdigest(), "relpath": path.relative_to(folder).as_posix()}
                   for path in folder.rglob("*") if path.is_file()), key=lambda entry: entry["relpath"])


def compute_data_version(folder: str | Path) -> str:
    """What `dvc commit` would record for the folder: a .dir hash."""
    entries = list_entries(Path(folder))
    return hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest() + ".dir"


def read_manifest(data_version: str, root: Path) -> list[dict[str, str]] | None:
    """The recorded version's file list from the project's DVC cache (pulled from its remote when the cache lacks
    it); None when neither holds it."""
    from tasks.data.versioning import open_repo, pull_version

    pull_version(data_version, root)
    with open_repo(root) as repo:
        manifest = Path(repo.cache.local.oid_to_path(data_version))
    return json.loads(manifest.read_text()) if manifest.is_file() else None


def describe_change(folder: Path, manifest: list[dict[str, str]] | None) -> str:
    """Which files of the rebuilt dataset differ from the recorded ones."""
    if manifest is None:
        return " (the recorded version is in neither the DVC cache nor its remote to compare files with)"
    recorded = {entry["relpath"]: entry["md5"] for entry in manifest}
    rebuilt = {entry["relpath"]: entry["md5"] for entry in list_entries(folder)}
    changed = sorted(name for name in recorded.keys() | rebuilt.keys() if recorded.get(name) != rebuilt.get(name))
    return f" ({', '.join(changed)} differ{'s' if len(changed) == 1 else ''})"


def restore_version(data_version: str, target: Path, root: Path,
                    manifest: list[dict[str, str]] | None = None) -> None:
    """Put the recorded version's files (from the DVC cache) in `target`, in place of what is there."""
    from tasks.data.versioning import open_repo

    manifest = manifest if manifest is not None else read_manifest(data_version, root)
    if manifest is None:
        raise LmforgeError(f"data version {data_version} is neither in this project's DVC cache nor on its DVC "
                           "remote; point the remote (.dvc/config) at the store that holds it, then reproduce again.")
    shutil.rmtree(target, ignore_errors=True)
    with open_repo(root) as repo:
        for entry in manifest:
            destination = target / entry["relpath"]
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(repo.cache.local.oid_to_path(entry["md5"]), destination)

"""Is there anything to do? A rerun on unchanged inputs answers before Prefect, DVC or torch are imported.

ingest stamps the data version it produced with a fingerprint of what it read: the source files (path, size, mtime;
for a Hub dataset or a URL, the revision or digest it resolved to and its local copy), the params that shape the
dataset and lmforge's own code. When the fingerprint is unchanged, that data version is
what ingest would produce again, and the registry (the same check the flow makes) says whether a model was already
trained on it with these params. Any doubt (no stamp, another run holding the lock, a changed file) means the flow.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from tasks.core.config import BUILTIN_TASKS, Params

STAMP = "ingest.json"  # beside the dataset folder: data/ingest.json, data/sst2/ingest.json
CODE = Path(__file__).resolve().parents[1]  # the tasks package, every sub-package included


@dataclass
class Unchanged:
    data_version: str
    since: str  # when ingest last read these inputs
    version: str  # what find_unchanged says: "version 2 (@champion)"


def stamp_path(params: Params) -> Path:
    return Path(params.paths.dataset).parent / STAMP


def describe_source(source: str) -> list[str]:
    """Path, size and mtime of each file a source can read: a folder's files, or the file; nothing for builtin."""
    if source in BUILTIN_TASKS:
        return []
    path = Path(source)
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    found = []
    for file in files:
        try:
            info = file.stat()
        except OSError:
            return [f"{file} unreadable"]  # the flow will say why
        found.append(f"{file.resolve()}|{info.st_size}|{info.st_mtime_ns}")
    return found


def fingerprint_inputs(params: Params, local=None) -> str:
    """What the data version depends on: source files, dataset params and lmforge's code (a change reruns ingest).
    A remote source is described as `local` holds it (ingest's fetch), else as its last fetch left it: this never
    downloads or writes (tasks/hub/sources.py peek_source)."""
    from tasks.hub.sources import describe_fetched, peek_source

    digest = hashlib.sha256(params.section_hash("task", "project", "data", "paths").encode())
    digest.update(f"feedback.max_share={params.feedback.max_share}".encode())  # how many fed-back rows ingest takes
    feedback = describe_source(params.paths.feedback) if Path(params.paths.feedback).is_dir() else []
    local = local or peek_source(params)
    if local is None:
        source = [f"{params.data.source}|not fetched yet"]
    else:
        source = describe_fetched(local) if local.files is not None else describe_source(params.data.source)
    for line in source + feedback:
        digest.update(line.encode())
    for module in sorted(CODE.rglob("*.py")):
        digest.update(module.read_bytes())
    return digest.hexdigest()[:16]


def write_stamp(params: Params, fingerprint: str, data_version: str, revision: str = "") -> None:
    """Called by ingest after versioning, with the fingerprint taken before it read the source, and the revision or
    digest a remote source resolved to."""
    path = stamp_path(params)
    record = {"fingerprint": fingerprint, "data_version": data_version, "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    if revision:
        record["source_revision"] = revision
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(record, indent=1))
    temporary.replace(path)  # a reader never sees half a stamp


def read_stamp(params: Params) -> dict | None:
    try:
        return json.loads(stamp_path(params).read_text())
    except (OSError, ValueError):
        return None


def lock_is_free(params: Params) -> bool:
    """True when no other retrain holds the project lock: a running one may be about to change the registry."""
    from filelock import FileLock, Timeout

    lock = FileLock(params.paths.lock)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return False
    lock.release()
    return True


def find_unchanged_inputs(params: Params) -> Unchanged | None:
    """The model already trained on exactly these inputs, if the stamp and the registry both say so."""
    from tasks.hub.sources import is_pinned, is_remote

    if is_remote(params.data.source) and not is_pinned(params.data):
        return None  # what an unpinned URL or branch holds now only a fetch tells: the flow's ingest, under the lock
    stamp = read_stamp(params)
    if not stamp or stamp.get("fingerprint") != fingerprint_inputs(params) or not lock_is_free(params):
        return None
    from tasks.data.versioning import pending_path

    if pending_path(params).exists():
        return None  # the flow's ingest retries the push that a remote refused last time
    from tasks.registry import tracking
    from tasks.registry.champion import find_unchanged

    version = find_unchanged(tracking.client(params), params, stamp["data_version"])
    return Unchanged(stamp["data_version"], stamp["time"], version) if version else None


CACHED_STEPS = {
    "ingest": "source files, dataset params and code as at {since}: data version {data_version}",
    "validate": "that data version passed before {version} was trained on it",
    "tokenize": "cached by data version, tokenizer and settings",
    "train": "{version} was trained on this data version with these params",
    "evaluate": "test metrics are on that version's MLflow run",
    "register": "{version} is registered",
    "promote": "decided when {version} was registered",
}


def describe_cached(found: Unchanged) -> list[tuple[str, str]]:
    """One line per step, saying why it has nothing to do."""
    return [(name, text.format(**vars(found))) for name, text in CACHED_STEPS.items()]

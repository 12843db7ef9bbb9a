"""A remote data.source resolved once, at the edge, into the pipeline's own source folder (`data/<name>/source/`,
beside its dataset): the files of the splits it reads, as the source lays them out, and a manifest (`source.json`)
of what they are (the source, the revision or checksum, each file's digest). ingest reads that folder as a local
source, DVC tracks it as the ingest stage's input, and skip-when-unchanged fingerprints it like any local file.

A pinned source (a Hub commit, a URL with data.sha256) that the folder already holds is used without any request.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from tasks.core.runtime import say
from tasks.hub.fetched import Fetched, Unanswered
from tasks.hub.mirror import hash_file
from tasks.hub.names import COMMIT, is_remote, parse_hub_dataset, read_scheme

MANIFEST = "source.json"


@dataclass
class LocalSource:
    source: str  # as the params name it
    path: str  # what ingest reads: the pipeline's source folder, or data.source itself when it is local
    files: list[tuple[str | None, str]] | None = None  # (split, file) of a remote source; None: read `path`
    revision: str = ""  # Hub commit, sha256:<hex>, or mirror:<hash>; "" for a local source
    origin: str = "local"  # local | hub | hub cache | url | cache | mirror
    digests: dict[str, str] = field(default_factory=dict)  # file name in the folder -> sha256


def source_folder(params) -> Path:
    return Path(params.paths.dataset).parent / "source"


def manifest_path(params) -> Path:
    return Path(params.paths.dataset).parent / MANIFEST


def wanted_splits(data) -> dict[str, str]:
    """lmforge split -> the source's split (Hub) or file (folder URL) data.splits names; train defaults to train."""
    named = data.splits.named_files()
    return {"train": named.pop("train", "train")} | named


def describe_asked(data) -> dict:
    """What the params ask of the source: when it differs from the manifest's, the folder is fetched again."""
    return {"source": data.source, "config": data.config, "splits": wanted_splits(data), "sha256": data.sha256}


def is_pinned(data) -> bool:
    if read_scheme(data.source) == "hf":
        return bool(COMMIT.fullmatch(parse_hub_dataset(data.source).revision))
    return data.sha256 is not None


def read_manifest(params) -> dict | None:
    try:
        return json.loads(manifest_path(params).read_text())
    except (OSError, ValueError):
        return None


def fetch_source(params) -> LocalSource:
    """The source as local files: itself when local; else fetched (or found already fetched) into source_folder."""
    data = params.data
    if not is_remote(data.source):
        return LocalSource(data.source, data.source)
    folder, manifest = source_folder(params), read_manifest(params)
    same = manifest is not None and manifest.get("asked") == describe_asked(data)
    if same and is_pinned(data) and all((folder / name).is_file() for name in manifest["digests"]):
        return from_manifest(manifest, folder, "cache")
    try:
        fetched = fetch_remote(data, folder, manifest["digests"] if same else {})
    except Unanswered as error:
        if not (same and all((folder / name).is_file() for name in manifest["digests"])):
            raise
        say(f"[data] {error.reason}: using the copy fetched before in {folder} ({manifest['revision']})")
        return from_manifest(manifest, folder, "cache")
    if fetched.note:
        say(f"[data] {fetched.note}")
    digests = copy_in(folder, fetched, (manifest or {}).get("digests") or {})
    record = {"asked": describe_asked(data), "revision": fetched.revision, "origin": fetched.origin, "digests": digests,
              "splits": [[split, name] for split, name, _ in fetched.files], "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    temporary = manifest_path(params).with_suffix(".tmp")
    temporary.write_text(json.dumps(record, indent=1))
    temporary.replace(manifest_path(params))
    return from_manifest(record, folder, fetched.origin)


def peek_source(params) -> LocalSource | None:
    """The source as it stands without a request or a write: a local one itself; a remote one as its last fetch for
    these params left it (the folder and manifest); None when none did. What read-only checks (skip-when-unchanged,
    `lmforge watch`) look at, so that they never download or rewrite what a running ingest may be reading."""
    data = params.data
    if not is_remote(data.source):
        return LocalSource(data.source, data.source)
    folder, manifest = source_folder(params), read_manifest(params)
    if manifest is None or manifest.get("asked") != describe_asked(data):
        return None
    if not all((folder / name).is_file() for name in manifest["digests"]):
        return None
    return from_manifest(manifest, folder, "cache")


def fetch_remote(data, folder: Path, known: dict[str, str]) -> Fetched:
    if read_scheme(data.source) == "hf":
        from tasks.hub.datasets import fetch_hub_dataset

        return fetch_hub_dataset(data.source, data.config, wanted_splits(data))
    from tasks.hub.urls import fetch_urls

    named = {split: name for split, name in wanted_splits(data).items() if not (split == "train" and name == "train")}
    return fetch_urls(data.source, data.sha256, named if data.source.endswith("/") else {}, folder, known)


def from_manifest(record: dict, folder: Path, origin: str) -> LocalSource:
    return LocalSource(record["asked"]["source"], str(folder),
                       [(split, str(folder / name)) for split, name in record["splits"]], record["revision"], origin,
                       dict(record["digests"]))


def copy_in(folder: Path, fetched: Fetched, earlier: dict[str, str]) -> dict[str, str]:
    """The fetched files into `folder` under their names (a copy that already has the bytes is left alone, so its
    time and DVC's hash stay); files of the earlier fetch (`earlier`, its manifest's) that this one has not are
    removed, nothing else. Returns name -> sha256."""
    digests = {}
    for _, name, path in fetched.files:
        target = folder / name
        digest = hash_file(path)
        if target.resolve() != path.resolve() and not (target.is_file() and hash_file(target) == digest):
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.partial")
            shutil.copyfile(path, partial)
            partial.replace(target)
        digests[name] = digest
    for name in set(earlier) - set(digests):
        (folder / name).unlink(missing_ok=True)
    return digests


def describe_fetched(local: LocalSource) -> list[str]:
    """What skip-when-unchanged fingerprints of a remote source: its revision, and each file of the local copy."""
    lines = [f"{local.source}|{local.revision}"]
    for name, digest in sorted(local.digests.items()):
        try:
            info = (Path(local.path) / name).stat()
        except OSError:
            return lines + [f"{name} unreadable"]  # ingest will fetch it again
        lines.append(f"{name}|{digest}|{info.st_size}|{info.st_mtime_ns}")
    return lines


def source_tags(params) -> dict[str, str]:
    """`data_revision`: what a remote source last resolved to (a registered version carries it, as the data version);
    nothing for a local source."""
    manifest = read_manifest(params) if is_remote(params.data.source) else None
    return {"data_revision": manifest["revision"]} if manifest and manifest.get("asked") == describe_asked(params.data) else {}

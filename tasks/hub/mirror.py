"""A data mirror for machines that cannot reach the Hub or a URL: `LMFORGE_DATA_MIRROR` names a folder laid out by
what each source names, and a source found there is read from it without any network.

    MIRROR/hf/datasets/ORG/NAME/<the repository's files, as on the Hub>   for hf://datasets/ORG/NAME[@REVISION]
    MIRROR/https/HOST/PATH                                                for https://HOST/PATH (http, s3, gs alike)

A mirror holds one copy per source, without the Hub's revisions: what it gives is recorded as `mirror:<hash of its
files>`, and a URL's pinned data.sha256 is checked against the mirror's file as against a download.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import urlsplit

from tasks.hub.names import HUB_PREFIX, parse_hub_dataset, read_scheme

MIRROR_ENV = "LMFORGE_DATA_MIRROR"


def mirror_root() -> Path | None:
    value = os.environ.get(MIRROR_ENV, "").strip()
    return Path(value).expanduser() if value else None


def mirror_path(source: str, root: Path) -> Path:
    """Where `source` lies in a mirror at `root` (credentials, query and revision left out)."""
    if source.startswith(HUB_PREFIX):
        found = parse_hub_dataset(source)
        return root / "hf" / "datasets" / found.repo_id / found.path
    parts = urlsplit(source)
    return root / read_scheme(source) / (parts.hostname or "") / parts.path.lstrip("/")


def find_in_mirror(source: str) -> Path | None:
    """The mirror's copy of `source`, when a mirror is set and holds one."""
    root = mirror_root()
    if root is None:
        return None
    path = mirror_path(source, root)
    return path if path.exists() else None


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_revision(files: dict[str, str]) -> str:
    """`mirror:` and a short hash of relative path -> sha256: what a mirror's copy is recorded as."""
    digest = hashlib.sha256("".join(f"{name}\0{sha}\n" for name, sha in sorted(files.items())).encode())
    return f"mirror:{digest.hexdigest()[:16]}"

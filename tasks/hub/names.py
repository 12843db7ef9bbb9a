"""What a `data.source` names, read from the string alone (no network, no disk): a local path or built-in dataset, a
Hub dataset (`hf://datasets/ORG/NAME[@REVISION][/PATH]`) or a URL (`https://`, `http://`, `s3://`, `gs://`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

HUB_PREFIX = "hf://datasets/"
URL_SCHEMES = ("https", "http", "s3", "gs")
# What fsspec needs installed for each scheme that is not plain HTTP: named in the error when it is missing.
SCHEME_PACKAGES = {"s3": "s3fs", "gs": "gcsfs"}
NAME = r"[A-Za-z0-9][\w.-]{0,95}"
# A revision may hold slashes (refs/convert/parquet, refs/pr/3): a refs/ one takes its next two parts.
HUB_SOURCE = re.compile(rf"(?P<repo>{NAME}/{NAME}|{NAME})(?:@(?P<revision>refs/[\w.-]+/[\w.%-]+|[\w.%-]+))?"
                        r"(?:/(?P<path>[^@]+))?")
COMMIT = re.compile(r"[0-9a-f]{40}")
SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class HubDataset:
    repo_id: str
    revision: str  # as written: a branch, tag, refs/... or a commit (main when none was)
    path: str = ""  # a folder or file inside the repository that narrows what is read

    @property
    def pinned(self) -> bool:
        return bool(COMMIT.fullmatch(self.revision))


def read_scheme(source: str) -> str:
    """`hf`, one of URL_SCHEMES, or "" for a local path or a built-in dataset."""
    head, sep, _ = source.partition("://")
    return head.lower() if sep and (head.lower() == "hf" or head.lower() in URL_SCHEMES) else ""


def is_remote(source: str) -> bool:
    return bool(read_scheme(source))


def parse_hub_dataset(source: str) -> HubDataset:
    """The Hub dataset an `hf://datasets/...` source names; a ValueError says how to write one."""
    if not source.startswith(HUB_PREFIX):
        raise ValueError(f"{source!r} is no Hub dataset; write hf://datasets/ORG/NAME[@REVISION] (hf:// reads "
                         "datasets only)")
    found = HUB_SOURCE.fullmatch(source.removeprefix(HUB_PREFIX).rstrip("/"))
    if not found or ".." in source:
        raise ValueError(f"{source!r} is not a Hub dataset id; write hf://datasets/ORG/NAME, optionally @REVISION "
                         "(a branch, tag or commit) and /PATH inside it")
    revision = (found.group("revision") or "main").replace("%2F", "/")
    return HubDataset(found.group("repo"), revision, (found.group("path") or "").strip("/"))


def check_source(source: str) -> str:
    """The source unchanged when it is local or a well-formed remote name; a ValueError otherwise."""
    kind = read_scheme(source)
    if kind == "hf":
        parse_hub_dataset(source)
    elif kind:
        rest = source.split("://", 1)[1]
        if not rest or rest.startswith("/") or ("/" not in rest and not rest.endswith("/")):
            raise ValueError(f"{source!r} names no file; write {kind}://HOST/PATH (a folder URL ends in /)")
    elif "://" in source:
        raise ValueError(f"{source.split('://')[0]}:// is not a source lmforge reads; use a local path, "
                         "hf://datasets/ORG/NAME, or an https://, http://, s3:// or gs:// URL")
    return source


def check_sha256(value: str | dict[str, str] | None) -> str | dict[str, str] | None:
    """64 lower-case hex digits, or a mapping of file name to such a digest."""
    digests = value.values() if isinstance(value, dict) else [] if value is None else [value]
    for digest in digests:
        if not SHA256.fullmatch(str(digest)):
            raise ValueError(f"{digest!r} is no SHA-256 digest; write the 64 hex digits `sha256sum FILE` prints")
    return value

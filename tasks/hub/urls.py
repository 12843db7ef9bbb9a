"""Files by URL (`https://`, `http://`, and `s3://`/`gs://` where fsspec's s3fs/gcsfs are installed), fetched into
the pipeline's source folder and checked against data.sha256 before anything reads them.

A file whose pinned digest the local copy already has is not fetched again. A URL that does not answer raises
Unanswered, on which the caller uses the copy fetched before, said so. A folder URL (ending in /) is read as the files
data.splits names, each with its digest from data.sha256 as a mapping. No URL is printed with its credentials.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import urlsplit

from tasks.core.errors import LmforgeError, redact
from tasks.hub.fetched import Fetched, Unanswered
from tasks.hub.mirror import content_revision, find_in_mirror, hash_file
from tasks.hub.names import SCHEME_PACKAGES, read_scheme

TIMEOUT_S = 30  # per connection attempt and read: a URL that does not answer is said in seconds, not minutes
# aiohttp's and the resolver's errors for a host that cannot be reached (fsspec wraps them in FileNotFoundError).
UNANSWERED = {"ClientConnectorError", "ClientConnectorDNSError", "ServerDisconnectedError", "gaierror"}


def url_files(source: str, sha256: str | dict[str, str] | None,
              named: dict[str, str]) -> list[tuple[str | None, str, str, str | None]]:
    """(split, local name, URL, expected digest) of each file a URL source stands for."""
    if not source.endswith("/"):
        name = Path(urlsplit(source).path).name
        return [(None, name, source, sha256 if isinstance(sha256, str) else None)]
    if not named:
        raise LmforgeError(f"data.splits: {redact(source)} is a folder URL, which lists no files; name each file in "
                           "data.splits (e.g. data.splits.train: train.csv).")
    digests = sha256 if isinstance(sha256, dict) else {}
    return [(split, name, source + name, digests.get(name)) for split, name in named.items()]


def fetch_urls(source: str, sha256: str | dict[str, str] | None, named: dict[str, str], folder: Path,
               known: dict[str, str]) -> Fetched:
    """Each file of the source, checked: from the mirror, the local copy (`known`: name -> its recorded digest) or
    the network, in that order of preference."""
    files, digests, origins = [], {}, set()
    for split, name, url, expected in url_files(source, sha256, named):
        path, digests[name], origin = fetch_one(url, expected, folder / name, known.get(name))
        files.append((split, name, path))
        origins.add(origin)
    # One file: its SHA-256; a folder's files: a short hash over each file's name and SHA-256 (no file's digest).
    revision = f"sha256:{digests[files[0][1]]}" if len(files) == 1 else \
        content_revision(digests).replace("mirror:", "files:")
    return Fetched(files, revision, "/".join(sorted(origins)))


def fetch_one(url: str, expected: str | None, local: Path, recorded: str | None) -> tuple[Path, str, str]:
    """(where the file lies, its sha256, origin) for one URL."""
    mirrored = find_in_mirror(url)
    if mirrored is not None and mirrored.is_file():
        return mirrored, check_digest(url, hash_file(mirrored), expected, f"the mirror's copy {mirrored}"), "mirror"
    if expected and local.is_file() and (recorded or hash_file(local)) == expected:
        return local, expected, "cache"  # a pinned digest the local copy has: no request
    try:
        digest = download(url, local, expected)
    except LmforgeError:
        raise
    except Exception as error:  # noqa: BLE001 - fsspec's errors become one sentence (the caller may use its copy)
        reason, answered = describe_failure(error)
        if answered:
            raise LmforgeError(f"data.source: {redact(url)} {reason}; check the URL.") from None
        raise Unanswered(f"data.source: {redact(url)} {reason}; check the URL and the network, run once where it "
                         "answers (the copy fetched then serves offline), or point LMFORGE_DATA_MIRROR at a mirror "
                         f"holding {read_scheme(url)}/{urlsplit(url).hostname}{urlsplit(url).path}.",
                         f"{redact(url)} {reason}") from None
    return local, digest, "url"


def check_digest(url: str, digest: str, expected: str | None, what: str) -> str:
    if expected and digest != expected:
        raise LmforgeError(f"data.sha256: {what} of {redact(url)} has SHA-256 {digest}, not the pinned {expected}; "
                           "nothing was read: the file changed at its source or the pin is wrong, so check the "
                           "source and fix data.sha256.")
    return digest


def open_remote(url: str):
    """fsspec's file system for the URL, bounded in time; a missing optional package is named."""
    import fsspec

    options = {}
    if read_scheme(url) in ("http", "https"):
        import aiohttp

        options["client_kwargs"] = {"timeout": aiohttp.ClientTimeout(sock_connect=TIMEOUT_S, sock_read=TIMEOUT_S)}
    try:
        return fsspec.core.url_to_fs(url, **options)
    except ImportError:
        package = SCHEME_PACKAGES.get(read_scheme(url), "fsspec")
        raise LmforgeError(f"data.source: reading {read_scheme(url)}:// needs the {package} package, which lmforge does not "
                           f"install; pip install {package} (or copy the file and point data.source at it).") from None


def download(url: str, local: Path, expected: str | None) -> str:
    """Stream the URL into a temporary file beside `local`, hashing as it comes; only a checked file replaces it."""
    fs, path = open_remote(url)
    local.parent.mkdir(parents=True, exist_ok=True)
    partial = local.with_name(f".{local.name}.partial")
    digest = hashlib.sha256()
    try:
        with fs.open(path, "rb", block_size=0) as remote, partial.open("wb") as out:
            for block in iter(lambda: remote.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        check_digest(url, digest.hexdigest(), expected, "the download")
        if local.is_file() and hash_file(local) == digest.hexdigest():
            partial.unlink()  # the same bytes: the copy keeps its time, and what depends on it stays unchanged
        else:
            os.replace(partial, local)
    finally:
        partial.unlink(missing_ok=True)
    return digest.hexdigest()


def describe_failure(error: BaseException) -> tuple[str, bool]:
    """(what happened, whether the server answered) from fsspec's error and its causes."""
    chain, seen = [], error
    while seen is not None and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    status = next((e.status for e in chain if isinstance(getattr(e, "status", None), int)), None)
    if status is not None:
        return f"answered HTTP {status}", True
    for kind, what in ((ConnectionRefusedError, "connection refused"), (TimeoutError, "timed out")):
        if any(isinstance(e, kind) for e in chain):
            return f"did not answer ({what})", False
    if any(isinstance(e, ConnectionError) or type(e).__name__ in UNANSWERED for e in chain):
        return "did not answer (no connection)", False
    if isinstance(error, PermissionError):
        return "refused access (check the credentials your environment gives fsspec)", True
    if isinstance(error, FileNotFoundError):
        return "does not exist", True
    return f"could not be read ({type(error).__name__})", False

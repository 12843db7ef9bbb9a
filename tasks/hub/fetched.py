"""What fetching a remote source gives: where its files lie now, and the revision or checksum they are at."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tasks.core.errors import LmforgeError


class Unanswered(LmforgeError):
    """The source did not answer and its own cache holds no copy: the pipeline's copy may still stand in."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason  # what happened, in a few words: "the Hub did not answer (HF_HUB_OFFLINE is set)"


@dataclass
class Fetched:
    files: list[tuple[str | None, str, Path]]  # (split, name in the local copy, where the file lies now)
    revision: str  # a Hub commit sha, sha256:<hex> of a URL's file, or mirror:<hash>
    origin: str  # hub | hub cache | url | cache | mirror
    note: str = ""  # why a cached copy was used, when it was

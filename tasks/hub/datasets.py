"""Hub datasets (`hf://datasets/ORG/NAME[@REVISION][/PATH]`) through huggingface_hub: the commit the revision points
at, and only the files of the splits data.splits names (Parquet where the Hub has it), in its cache (HF_HOME).

A mirror copy (LMFORGE_DATA_MIRROR) is read without any network. A pinned commit already in the cache is read
without a request. When the Hub does not answer (offline, HF_HUB_OFFLINE=1, a failed connection) the cached copy of
the revision is used and said so. The token (HF_TOKEN) is huggingface_hub's business: never read, printed or kept.
"""

from __future__ import annotations

from pathlib import Path

from tasks.core.errors import LmforgeError, redact
from tasks.hub.fetched import Fetched, Unanswered
from tasks.hub.layout import pick_files, read_card
from tasks.hub.mirror import content_revision, find_in_mirror, hash_file
from tasks.hub.names import HubDataset, parse_hub_dataset
from tasks.hub.refusals import describe_refusal


def locate_files(folder: Path, files: list[tuple[str | None, str]]) -> list[tuple[str | None, str, Path]]:
    return [(split, name, folder / name) for split, name in files]


def list_folder(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and not p.relative_to(folder).parts[0].startswith("."))


def pick_local(folder: Path, found: HubDataset, config: str | None, wanted: dict[str, str], source: str):
    """The split files of a folder laid out as the repository (a snapshot or the mirror), with its card."""
    card = folder / "README.md"
    return pick_files(list_folder(folder), read_card(card.read_text(encoding="utf-8") if card.is_file() else None),
                      config, wanted, source, found.path)


def fetch_hub_dataset(source: str, config: str | None, wanted: dict[str, str]) -> Fetched:
    """The files of the splits `wanted` (lmforge split -> Hub split) of a Hub dataset, and the revision they are at."""
    found = parse_hub_dataset(source)
    mirrored = find_in_mirror(source)
    if mirrored is not None:
        folder = mirrored if mirrored.is_dir() else mirrored.parent
        files = pick_local(folder, HubDataset(found.repo_id, found.revision), config, wanted, source) \
            if mirrored.is_dir() else [(None, mirrored.name)]
        return Fetched(locate_files(folder, files), content_revision({name: hash_file(folder / name) for _, name in files}),
                       "mirror")
    if found.pinned:
        cached = read_cached(found, config, wanted, source)
        if cached is not None:
            return cached  # a commit never moves: nothing to ask the Hub
    try:
        return download(found, config, wanted, source)
    except Exception as error:  # noqa: BLE001 - a Hub that does not answer falls back to the cache, said so
        if not is_unanswered(error):
            raise describe_hub_error(error, found, source) from None
        cached = read_cached(found, config, wanted, source, strict=True)
        if cached is None:
            raise Unanswered(f"data.source: the Hub did not answer for {source} ({summarize_error(error)}) and its "
                             f"cache holds no copy of revision {found.revision}; run once where the Hub answers, or point "
                             f"LMFORGE_DATA_MIRROR at a mirror that holds hf/datasets/{found.repo_id}.",
                             f"the Hub did not answer ({summarize_error(error)})") from None
        cached.note = (f"the Hub did not answer ({summarize_error(error)}): using the cached copy of {source} at "
                       f"{cached.revision[:12]}")
        return cached


def download(found: HubDataset, config: str | None, wanted: dict[str, str], source: str) -> Fetched:
    """Ask the Hub for the revision's commit, card and file list, then download the chosen files only."""
    from huggingface_hub import HfApi, snapshot_download

    info = HfApi().dataset_info(found.repo_id, revision=found.revision)
    card = info.card_data.to_dict() if info.card_data is not None else {}
    files = pick_files([item.rfilename for item in info.siblings or []], card, config, wanted, source, found.path)
    # The card too: it maps configs and splits to files, which a later offline read of the cache needs. By the
    # revision asked for, so that huggingface_hub records where it points (refs/) for that read.
    folder = Path(snapshot_download(found.repo_id, repo_type="dataset", revision=found.revision,
                                    allow_patterns=["README.md", *(name for _, name in files)]))
    if folder.name != info.sha:  # the branch moved between the two requests: the files chosen are the older commit's
        return download(HubDataset(found.repo_id, folder.name, found.path), config, wanted, source)
    return Fetched(locate_files(folder, files), info.sha, "hub")


def read_cached(found: HubDataset, config: str | None, wanted: dict[str, str], source: str,
                strict: bool = False) -> Fetched | None:
    """The revision's snapshot in the Hub cache, if it holds every file wanted; None when it does not (`strict`: a
    cached copy without the split asked for says so)."""
    from huggingface_hub import errors, snapshot_download

    try:
        folder = Path(snapshot_download(found.repo_id, repo_type="dataset", revision=found.revision,
                                        allow_patterns=["README.md"], local_files_only=True))
    except (errors.LocalEntryNotFoundError, errors.IncompleteSnapshotError, OSError):
        return None
    try:
        files = pick_local(folder, found, config, wanted, source)
    except LmforgeError:
        if strict:
            raise
        return None
    if not all((folder / name).is_file() for _, name in files):
        return None
    return Fetched(locate_files(folder, files), folder.name, "hub cache")


def is_unanswered(error: Exception) -> bool:
    """No answer at all (offline, refused, timed out) or a Hub error 5xx: what a cached copy stands in for."""
    import httpx2
    from huggingface_hub import errors
    from huggingface_hub.utils import OfflineModeIsEnabled

    if isinstance(error, (OfflineModeIsEnabled, httpx2.TransportError, ConnectionError, TimeoutError)):
        return True
    status = getattr(getattr(error, "response", None), "status_code", 0) or 0
    return isinstance(error, errors.HfHubHTTPError) and status >= 500


def summarize_error(error: Exception) -> str:
    from huggingface_hub.utils import OfflineModeIsEnabled

    if isinstance(error, OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE is set"
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return redact(text[:160])


def describe_hub_error(error: Exception, found: HubDataset, source: str) -> LmforgeError:
    """What the Hub refused, and how to fix it; never the token, never a traceback."""
    if isinstance(error, LmforgeError):
        return error
    refused = describe_refusal(error, "data.source", found.repo_id, found.revision, "dataset")
    if refused is not None:
        return refused
    status = getattr(getattr(error, "response", None), "status_code", "an error")
    return LmforgeError(f"data.source: the Hub answered {status} for {source} ({summarize_error(error)}); check the id, or point "
                        "LMFORGE_DATA_MIRROR at a mirror that holds it.")

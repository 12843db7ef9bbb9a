"""Models named by Hugging Face Hub id (`ORG/NAME` or `NAME`, optionally `@REVISION`: a branch, tag or commit),
resolved through huggingface_hub into a snapshot folder of its cache and the commit sha the revision pointed at.

Only what lmforge loads is fetched: the config, tokenizer files and safetensors weights (pickled weights can run code
when loaded, so they are never downloaded), and Python files only when the params file trusts the repo's own code.
huggingface_hub does the rest as it does for transformers: its cache (HF_HOME), offline mode (HF_HUB_OFFLINE, or a
Hub that cannot be reached: a cached snapshot is used), the endpoint (HF_ENDPOINT) and the token (HF_TOKEN), which
lmforge never reads, prints or records.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tasks.core.errors import LmforgeError
from tasks.hub.refusals import describe_refusal

# ORG/NAME or NAME (the Hub's rules: letters, digits, - _ .), then @REVISION (branches may hold slashes: refs/pr/1).
HUB_ID = re.compile(r"(?P<repo>[A-Za-z0-9][\w.-]{0,95}(?:/[A-Za-z0-9][\w.-]{0,95})?)(?:@(?P<revision>[\w./-]+))?")
COMMIT = re.compile(r"[0-9a-f]{40}")
# Config, weights and tokenizer files: tokenizer.json, or SentencePiece models (*.model; Marian's source.spm and
# target.spm), vocabularies (*.txt, vocab.json), tiktoken files and chat templates.
WANTED = ["*.json", "*.safetensors", "*.txt", "*.model", "*.spm", "*.tiktoken", "*.jinja"]
# Not what transformers loads from the repo's top folder: subfolders (other formats, originals) and Mistral's
# consolidated.safetensors, a second copy of the weights for another runtime.
UNWANTED = ["*/*", "consolidated*"]
CODE = ["*.py"]  # a repo's own modelling code: fetched only when model.trust_remote_code is true
TOKENIZER_KEY = "tokenize.pretrained"  # a tokenizer alone: its files, no weights (a tokenizer-only repo is one)
TOKENIZER = [pattern for pattern in WANTED if pattern != "*.safetensors"]


@dataclass(frozen=True)
class HubModel:
    """A checkpoint on the Hub as the params name it, and once resolved, the commit and the local folder."""
    repo_id: str
    revision: str  # as written (main when none was)
    sha: str = ""
    folder: str = ""

    @property
    def pinned(self) -> str:
        """The id at its commit: what a rebuild resolves, never a branch that may have moved."""
        return f"{self.repo_id}@{self.sha or self.revision}"


def parse_hub_id(value: str | None) -> HubModel | None:
    """The Hub id a params value names, or None for a local path, `pkg:NAME` or a folder that exists."""
    if not value or value.startswith(("pkg:", "/", ".", "~")) or "\\" in value or Path(value).exists():
        return None
    if Path(value.split("/")[0]).is_dir() and "/" in value:
        return None  # data/model, models/my-bert: a path into a folder of the project, not an ORG
    found = HUB_ID.fullmatch(value)
    if not found or ".." in found.group("repo") or found.group("repo").endswith((".", "-")):
        return None
    return HubModel(found.group("repo"), found.group("revision") or "main")


def checkpoint_folder(value: str | None, trust_remote_code: bool = False, key: str = "model.pretrained") -> str | None:
    """The local folder the checkpoint value of params key `key` stands for: itself, or the Hub snapshot it resolves
    to (a process resolves each commit once)."""
    found = parse_hub_id(value)
    return value if found is None else resolve_hub_model(value, key, trust_remote_code).folder


def resolve_hub_model(value: str, key: str, trust_remote_code: bool = False) -> HubModel:
    """Resolve `value` (a Hub id) into its commit and snapshot folder; any failure is one sentence naming `key`. A
    commit is resolved once per process; a branch or tag every time, as it may have moved (a served schedule)."""
    found = parse_hub_id(value)
    if found is not None and COMMIT.fullmatch(found.revision):
        return resolve_commit(value, key, trust_remote_code)
    return fetch_hub_model(value, key, trust_remote_code)


def pretrained_folder(params, key: str = "model.pretrained") -> str | None:
    """The local folder of the checkpoint `params` name under the dotted `key`, trusting its code as they do."""
    section, name = key.split(".")
    return checkpoint_folder(getattr(getattr(params, section), name), params.model.trust_remote_code, key)


def tokenizer_source(params) -> tuple[str | None, str]:
    """A pretrained model (or warm-started encoder) brings its own tokenizer unless tokenize.pretrained names another;
    the value, and the params key that names it."""
    for key in ("tokenize.pretrained", "model.pretrained", "model.pretrained_encoder"):
        section, name = key.split(".")
        if value := getattr(getattr(params, section), name):
            return value, key
    return None, ""


def tokenizer_folder(params) -> str | None:
    """The local folder of the pretrained tokenizer (a Hub id's snapshot), or None when one is trained."""
    value, key = tokenizer_source(params)
    return checkpoint_folder(value, params.model.trust_remote_code, key)


@cache
def resolve_commit(value: str, key: str, trust_remote_code: bool) -> HubModel:
    return fetch_hub_model(value, key, trust_remote_code)


def fetch_hub_model(value: str, key: str, trust_remote_code: bool) -> HubModel:
    wanted = parse_hub_id(value)
    if wanted is None:
        raise LmforgeError(f"{key}: {value!r} is not a Hub id; write ORG/NAME or ORG/NAME@REVISION, or a local folder.")
    tokenizer_only = key == TOKENIZER_KEY
    patterns = (TOKENIZER if tokenizer_only else WANTED) + (CODE if trust_remote_code else [])
    folder = download_snapshot(wanted, patterns, key)
    found = HubModel(wanted.repo_id, wanted.revision, Path(folder).name, folder)
    check_snapshot(found, key, trust_remote_code, tokenizer_only)
    return found


def download_snapshot(wanted: HubModel, patterns: list[str], key: str) -> str:
    """huggingface_hub's snapshot_download (the cache first for a commit: no request when it is there)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub import errors

    if COMMIT.fullmatch(wanted.revision):
        try:
            folder = snapshot_download(wanted.repo_id, revision=wanted.revision, allow_patterns=patterns,
                                       ignore_patterns=UNWANTED, local_files_only=True)
            if (Path(folder) / "config.json").is_file() and any(Path(folder).glob("*.safetensors")):
                return folder  # a snapshot an earlier call left with only some files is completed below
        except (errors.LocalEntryNotFoundError, errors.IncompleteSnapshotError):
            pass  # not cached yet: from the Hub, below
    try:
        return snapshot_download(wanted.repo_id, revision=wanted.revision, allow_patterns=patterns,
                                 ignore_patterns=UNWANTED)
    except Exception as error:  # noqa: BLE001 - each of huggingface_hub's errors becomes the user's sentence
        raise describe_hub_error(error, wanted, key) from None


def describe_hub_error(error: Exception, wanted: HubModel, key: str) -> LmforgeError:
    """What went wrong fetching `wanted`, and how to fix it; never the token, never a traceback."""
    from huggingface_hub import errors

    name = f"{wanted.repo_id}@{wanted.revision}"
    fetch = f"`hf download {wanted.repo_id} --revision {wanted.revision}`"
    refused = describe_refusal(error, key, wanted.repo_id, wanted.revision, "model")
    if refused is not None:
        return refused
    if isinstance(error, errors.IncompleteSnapshotError):
        return LmforgeError(f"{key}: the local Hub cache holds only part of {name} and the Hub cannot be reached; "
                            f"complete it with {fetch} where the Hub answers.")
    if isinstance(error, errors.LocalEntryNotFoundError):
        return LmforgeError(f"{key}: {name} is not in the local Hub cache and the Hub cannot be reached (offline); "
                            f"fetch it once with {fetch} where the Hub answers, or set HF_HUB_OFFLINE=0 if it is set.")
    if isinstance(error, errors.HFValidationError):
        return LmforgeError(f"{key}: {wanted.repo_id!r} is not a valid Hub id; write ORG/NAME[@REVISION].")
    if isinstance(error, errors.HfHubHTTPError):
        status = getattr(getattr(error, "response", None), "status_code", "an error")
        return LmforgeError(f"{key}: the Hub answered HTTP {status} for {name}; try again later, or work offline "
                            f"from a cached copy ({fetch}, then HF_HUB_OFFLINE=1).")
    return LmforgeError(f"{key}: could not fetch {name} from the Hub ({type(error).__name__}); check the network, "
                        f"or fetch it with {fetch} and set HF_HUB_OFFLINE=1.")


def check_snapshot(found: HubModel, key: str, trust_remote_code: bool, tokenizer_only: bool = False) -> None:
    """A transformers checkpoint with safetensors weights (or, for tokenize.pretrained, a tokenizer), running no
    code of its own unless the params trust it."""
    folder = Path(found.folder)
    if tokenizer_only:
        if not any(folder.glob("tokenizer*")) and not any(folder.glob("*.model")):
            raise LmforgeError(f"{key}: {found.pinned} holds no tokenizer (tokenizer.json, tokenizer_config.json or a "
                               "SentencePiece model); name a repository that ships one.")
    elif not (folder / "config.json").is_file():
        raise LmforgeError(f"{key}: {found.pinned} holds no config.json, so it is no transformers checkpoint; name a "
                           "model repository (a dataset or a space is not one).")
    if not tokenizer_only and not any(folder.glob("*.safetensors")):
        raise LmforgeError(f"{key}: {found.pinned} has no .safetensors weights (pickled ones such as pytorch_model.bin "
                           "are refused: loading them can run code); pick a revision that has safetensors (the Hub's "
                           "conversion bot opens one as refs/pr/N) or convert them once, on a machine you trust, with "
                           "save_pretrained(folder, safe_serialization=True) and name that folder.")
    custom = "" if tokenizer_only else find_remote_code(folder, "config.json")
    if custom and not trust_remote_code:
        raise LmforgeError(f"{key}: {found.pinned} runs its own code ({custom}); lmforge loads it only when the params "
                           "file says `model.trust_remote_code: true` (read that code first), or pick a model "
                           "transformers implements itself.")
    tokenizer_code = find_remote_code(folder, "tokenizer_config.json")
    if tokenizer_code:
        # Every step loads the tokenizer, and the model's own code is what the flag was written for.
        raise LmforgeError(f"{key}: {found.pinned}'s tokenizer runs its own code ({tokenizer_code}), which lmforge "
                           "does not run; name a tokenizer transformers implements with tokenize.pretrained, or pick "
                           "another model.")


def find_remote_code(folder: Path, name: str) -> str:
    """The repo's own classes a config file (config.json, tokenizer_config.json) asks transformers to import, or ""."""
    try:
        mapping = json.loads((folder / name).read_text()).get("auto_map") or {}
    except (OSError, ValueError):
        return ""
    return ", ".join(sorted({str(v if isinstance(v, str) else v[0]) for v in mapping.values() if v}))

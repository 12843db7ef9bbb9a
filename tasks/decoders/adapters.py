"""A LoRA adapter kept apart from its base (train.lora.merge: false): the adapter's folder holds the adapter alone,
the tokenizer, and lmforge_base.json, which names the base it was trained on: a Hub id at its resolved commit, or a
folder with the SHA-256 of its weights. Loading finds that base (the Hub's cache, or the Hub; the folder, checked),
and every adapter a process loads on one base shares the base's weights: a server holding a champion, a canary and a
shadow on one base holds the base once. Merged (export), an adapter is applied to a copy of its own.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import shutil
import tempfile
import threading
from pathlib import Path

from tasks.core.errors import LmforgeError

BASE_FILE = "lmforge_base.json"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
_bases: dict[tuple, object] = {}  # (base folder, its revision) -> the base model every adapter on it shares
_lock = threading.Lock()


def is_adapter_folder(folder: str | Path) -> bool:
    return (Path(folder) / BASE_FILE).is_file()


def hash_weights(folder: Path) -> str:
    """The SHA-256 of a folder's weights, read once per process while its files stay as they are (a server loading
    a champion, a canary and a shadow on one base hashes the base once, not once an adapter)."""
    files = tuple((path.name, path.stat().st_size, path.stat().st_mtime_ns)
                  for path in sorted(Path(folder).glob("*.safetensors")))
    return hash_files(str(Path(folder).resolve()), files)


@functools.cache
def hash_files(folder: str, files: tuple) -> str:
    digest = hashlib.sha256()
    for name, _, _ in files:
        path = Path(folder) / name
        with path.open("rb") as handle:
            while block := handle.read(1 << 24):
                digest.update(block)
    return digest.hexdigest()


def describe_base(folder: str | Path) -> dict:
    """What an adapter records of the base it was trained on: a snapshot of the Hub's cache as its id and commit, any
    other folder as its path and the SHA-256 of its weights."""
    folder = Path(folder).resolve()
    parts = folder.parts
    for i, part in enumerate(parts[:-2]):
        if part.startswith("models--") and parts[i + 1] == "snapshots":
            return {"repo_id": part[len("models--"):].replace("--", "/"), "revision": parts[i + 2]}
    return {"folder": str(folder), "sha256": hash_weights(folder)}


def write_base(out: Path, base_folder: str | Path, vocab_size: int) -> None:
    (out / BASE_FILE).write_text(json.dumps(describe_base(base_folder) | {"vocab_size": vocab_size}, indent=2))


def find_base(folder: str | Path) -> tuple[str, dict]:
    """(the base's local folder, its record), or one sentence on what is missing or changed."""
    from tasks.hub.models import checkpoint_folder

    record = json.loads((Path(folder) / BASE_FILE).read_text())
    if "repo_id" in record:
        pinned = f"{record['repo_id']}@{record['revision']}"
        try:
            return checkpoint_folder(pinned, key="the adapter's base"), record
        except LmforgeError as error:
            raise LmforgeError(f"the LoRA adapter in {folder} needs its base model {pinned}, which cannot be loaded "
                               f"({error}); put that commit in the Hub's cache (HF_HOME) or let the Hub be reached."
                               ) from None
    base = Path(record["folder"])
    if not base.is_dir():
        raise LmforgeError(f"the LoRA adapter in {folder} needs its base model folder {base}, which is missing; "
                           "restore that folder or retrain with model.pretrained naming one that exists.")
    if hash_weights(base) != record["sha256"]:
        raise LmforgeError(f"the base model in {base} has other weights than the LoRA adapter in {folder} was "
                           "trained on; restore the base it was trained on or retrain the adapter on this one.")
    return str(base), record


def shared_base(base_folder: str, record: dict):
    """The base model loaded once per process (in inference mode), whatever number of adapters use it."""
    from transformers import AutoModelForCausalLM

    from tasks.training.loading import load_trained

    key = (base_folder, record.get("revision") or record.get("sha256"))
    with _lock:
        if key not in _bases:
            _bases[key] = load_trained(AutoModelForCausalLM, base_folder)
        return _bases[key]


def share_weights(base):
    """A model of the base's architecture whose parameters are the base's own tensors (no copy): an adapter wraps
    it without touching the base or another adapter's wrapper."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        twin = AutoModelForCausalLM.from_config(base.config)
    twin.load_state_dict(base.state_dict(), assign=True, strict=False)
    for name, buffer in base.named_buffers():  # buffers left out of the state dict (rotary frequencies) too
        owner, _, leaf = name.rpartition(".")
        twin.get_submodule(owner).register_buffer(leaf, buffer, persistent=False)
    twin.tie_weights()
    return twin.eval()


def load_adapter(folder: str | Path, merged: bool = False):
    """The base with the adapter in `folder` applied: sharing the base's weights with every other adapter of this
    process, or (`merged`) merged into a copy of the base of its own, a plain model as export wants it."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from tasks.training.loading import load_trained

    base_folder, record = find_base(folder)
    model = load_trained(AutoModelForCausalLM, base_folder) if merged else share_weights(shared_base(base_folder,
                                                                                                     record))
    if model.get_input_embeddings().num_embeddings < record["vocab_size"]:
        model.resize_token_embeddings(record["vocab_size"])  # markers the adapter's tokenizer added (saved with it)
    adapted = PeftModel.from_pretrained(model, str(folder), is_trainable=False)
    return adapted.merge_and_unload().eval() if merged else adapted.eval()


def load_decoder(folder: str | Path, merged: bool = False):
    """A trained decoder folder as every step after train loads it: a whole model, or an adapter on its base."""
    from transformers import AutoModelForCausalLM

    from tasks.training.loading import load_trained

    return load_adapter(folder, merged) if is_adapter_folder(folder) else load_trained(AutoModelForCausalLM, folder)


@contextlib.contextmanager
def merged_folder(folder: str | Path):
    """`folder` itself, or for an adapter a temporary folder with the adapter merged into a copy of its base and the
    adapter folder's other files (tokenizer, lmforge.json): what an export is built from."""
    if not is_adapter_folder(folder):
        yield Path(folder)
        return
    with tempfile.TemporaryDirectory(prefix="lmforge-merged-") as out:
        load_adapter(folder, merged=True).save_pretrained(out, safe_serialization=True)
        for path in Path(folder).iterdir():
            if path.is_file() and path.name not in (*ADAPTER_FILES, BASE_FILE):
                shutil.copy2(path, Path(out) / path.name)
        yield Path(out)


def base_tags(folder: str | Path) -> dict[str, str]:
    """The registered version's lineage tag for an adapter: lora_base, its base as Hub id@commit, or as the folder
    and the SHA-256 of its weights; none for a whole model."""
    if not is_adapter_folder(folder):
        return {}
    record = json.loads((Path(folder) / BASE_FILE).read_text())
    named = f"{record['repo_id']}@{record['revision']}" if "repo_id" in record else \
        f"{record['folder']} (weights sha256 {record['sha256']})"
    return {"lora_base": named}

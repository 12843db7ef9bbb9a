"""A trained model folder as every step after train loads it (evaluate, export, serving, the monitor): transformers'
Auto class, safetensors only, and the folder's own modelling code run only when the params it was trained with
trusted it (`model.trust_remote_code`, read from its lmforge.json, as its version's tag says)."""

from __future__ import annotations

import json
from pathlib import Path


def trusts_code(folder: str | Path) -> bool:
    """Whether the params that trained the model in `folder` let it run its own code (an export folder holds a copy of
    the model's lmforge.json)."""
    try:
        meta = json.loads((Path(folder) / "lmforge.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(((meta.get("params") or {}).get("model") or {}).get("trust_remote_code"))


def load_trained(auto_class, folder: str | Path, **kwargs):
    """`auto_class.from_pretrained(folder)` in inference mode, as its training params allow."""
    return auto_class.from_pretrained(str(folder), use_safetensors=True, trust_remote_code=trusts_code(folder),
                                      **kwargs).eval()


def load_trained_tokenizer(folder: str | Path):
    """The tokenizer saved in a trained model or export folder; a folder whose model runs its own code reads its
    config with that code too (transformers would otherwise stop to ask on the terminal)."""
    from tasks.training.tokenizer_io import read_tokenizer

    return read_tokenizer(folder, trusts_code(folder))

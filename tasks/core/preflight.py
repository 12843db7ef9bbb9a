"""Before a run starts: can it write where params.paths say? A read-only or full folder is said in one sentence
now, not after an hour of training when the first checkpoint is saved."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tasks.core.config import Params
from tasks.core.errors import LmforgeError

FOLDERS = ("dataset", "validation", "tokenized", "model", "metrics")
FILES = ("registered", "promotion", "lock")


def nearest_folder(path: Path) -> Path:
    """The path itself when it is a folder, else the closest folder above it that exists: where it will be made."""
    while not path.is_dir() and path != path.parent:
        path = path.parent
    return path


def check_writable(params: Params) -> None:
    """Each output folder (or, not made yet, the folder it will be made in) takes a small file; nothing is created."""
    paths = {key: Path(getattr(params.paths, key)) for key in FOLDERS}
    paths |= {key: Path(getattr(params.paths, key)).parent for key in FILES}
    paths["model checkpoints"] = Path(params.paths.model).parent / "checkpoints"  # train's (checkpoint_dir)
    tried: set[Path] = set()
    for key, path in paths.items():
        folder = nearest_folder(path.resolve())
        if folder in tried:  # most outputs share data/: one file per folder is enough
            continue
        tried.add(folder)
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".lmforge-write-check-"):
                pass
        except OSError as error:
            name = "paths.model (its checkpoints)" if key == "model checkpoints" else f"paths.{key}"
            raise LmforgeError(f"{name}: cannot write in {folder} ({error.strerror}); make that folder writable "
                               f"or point {name.split(' ')[0]} at another one.") from None

"""Files only their owner may read: secrets, token digests, auth configs, markers (0600 whatever the umask)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def write_private(path: str | Path, data: bytes | str, replace: bool = False) -> Path:
    """Write `data` to `path`, mode 0600. A new file by default (an existing one is an error); with `replace`, a
    temporary file renamed over the old one, so a reader never sees half a file and a crash keeps the old one."""
    path = Path(path)
    target = path.with_name(f".{path.name}.{os.getpid()}.tmp") if replace else path
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.fchmod(descriptor, 0o600)  # the umask may have taken bits the mode asked for
            with os.fdopen(descriptor, "wb", closefd=False) as out:  # every byte, however large
                out.write(data.encode() if isinstance(data, str) else data)
        finally:
            os.close(descriptor)
        if replace:
            os.replace(target, path)
    except OSError:
        if replace:  # a full or read-only disk: no half-written temporary left behind (nor an error from its removal)
            with contextlib.suppress(OSError):
                target.unlink(missing_ok=True)
        raise
    return path

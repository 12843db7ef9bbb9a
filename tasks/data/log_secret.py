"""The inference log's key for `monitor.log_inputs: hash`: inputs are kept as HMAC-SHA256 under a project secret.

A plain SHA-256 of a short input (an e-mail address, a name, a yes/no answer) is undone by hashing guesses; a keyed
hash is not, without the key. The same text under the same key gives the same digest, so duplicates still show and
every process of a project (serve's workers, predict, score) writes digests that compare equal.

The key: LMFORGE_LOG_SECRET when set (servers on several machines sharing one log must all set the same), else the
file .lmforge/log-secret in the project folder, made once (32 random bytes, readable by its owner alone) and never
committed (.gitignore).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from tasks.core.errors import LmforgeError

SECRET_ENV = "LMFORGE_LOG_SECRET"
SECRET_FILE = Path(".lmforge") / "log-secret"
MIN_SECRET_CHARS = 16  # a short key is guessed as easily as the inputs it hides


def hash_input(text: str, secret: bytes | None = None) -> str:
    """The one digest a hashed input is logged (and compared) as: HMAC-SHA256 of its UTF-8 under the log secret."""
    return hmac.new(log_secret() if secret is None else secret, text.encode(), hashlib.sha256).hexdigest()


def log_secret() -> bytes:
    """LMFORGE_LOG_SECRET's value, else the project's secret file (made when missing)."""
    value = os.environ.get(SECRET_ENV)
    if value is not None:
        if len(value) < MIN_SECRET_CHARS:
            raise LmforgeError(f"{SECRET_ENV} is {len(value)} characters long; set it to at least "
                               f"{MIN_SECRET_CHARS} random characters (e.g. the output of `openssl rand -hex 32`), or "
                               f"unset it to use {SECRET_FILE}.")
        return value.encode()
    return read_or_create(Path(SECRET_FILE).resolve())


@functools.cache  # read once per process: it is asked for every logged row
def read_or_create(path: Path) -> bytes:
    """The secret in `path`; made when missing, atomically: two processes that start at once end with one secret."""
    if not path.is_file():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        from tasks.core.private_files import write_private

        write_private(temporary, secrets.token_hex(32))
        try:
            os.link(temporary, path)  # fails when another process made it first: theirs is the secret
        except FileExistsError:
            pass
        finally:
            temporary.unlink(missing_ok=True)
    secret = path.read_bytes().strip()
    if len(secret) < MIN_SECRET_CHARS:
        raise LmforgeError(f"{path} holds {len(secret)} characters, too short for the inference log's key; delete it "
                           "(hashes logged before then no longer match new ones) and lmforge makes a new one.")
    return secret



"""Bearer tokens for `lmforge serve` (serve.auth): who may score, and who may also send feedback.

Tokens are 256-bit random strings (`lmforge token NAME`), so their SHA-256 is enough at rest: no password hashing
(bcrypt costs milliseconds a request, and a random token has nothing to guess). The store maps each token's digest to
a name and scopes; it comes from serve.auth.tokens_file and from the environment variable serve.auth.tokens_env
(the same YAML/JSON text), never from a raw token on disk.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from tasks.core.config import Params
from tasks.core.errors import LmforgeError
from tasks.servers.health import PROBES

SCOPES = ("score", "feedback", "metrics")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
# A health probe carries no token; it shows the version, never data.
OPEN_PATHS = frozenset({"/ping", *PROBES})
SCOPE_OF_PATH = {"/feedback": "feedback", "/metrics": "metrics"}  # every other path scores


@dataclass(frozen=True)
class Caller:
    name: str
    scopes: frozenset[str]

    @property
    def identity(self) -> str:
        return f"token:{self.name}"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "lmf_" + secrets.token_urlsafe(32)


def parse_store(text: str, where: str) -> dict[str, Caller]:
    """{digest: Caller} from `name: {sha256: HEX, scopes: [score, feedback]}` entries."""
    import yaml

    try:
        entries = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise LmforgeError(f"{where} is not YAML or JSON ({str(error).splitlines()[0]}); write it as `NAME: {{sha256: "
                           "HEX, scopes: [score]}` (`lmforge token NAME` writes one).") from None
    if not isinstance(entries, dict):
        raise LmforgeError(f"{where} must map token names to {{sha256, scopes}}; `lmforge token NAME` writes one.")
    store = {}
    for name, entry in entries.items():
        found = entry.get("sha256", "") if isinstance(entry, dict) else ""
        scopes = entry.get("scopes", ["score"]) if isinstance(entry, dict) else []
        if len(str(found)) != 64 or not set(scopes) <= set(SCOPES):
            raise LmforgeError(f"{where}: token {name!r} needs a 64-hex sha256 and scopes among {', '.join(SCOPES)}; "
                               "make a new one with `lmforge token NAME`.")
        store[str(found).lower()] = Caller(str(name), frozenset(scopes) | {"score"})
    return store


def load_store(params: Params) -> dict[str, Caller]:
    """Every token the server accepts, from the file and the environment."""
    auth, store = params.serve.auth, {}
    if auth.tokens_file:
        path = Path(auth.tokens_file)
        if not path.is_file():
            raise LmforgeError(f"serve.auth.tokens_file {path} does not exist; create it with `lmforge token NAME`.")
        store |= parse_store(path.read_text(), f"serve.auth.tokens_file {path}")
    if os.environ.get(auth.tokens_env):
        store |= parse_store(os.environ[auth.tokens_env], f"the environment variable {auth.tokens_env}")
    return store


def needs_auth(params: Params, host: str) -> bool:
    return params.serve.auth.required == "always" or host not in LOOPBACK


def check_auth_ready(params: Params, host: str) -> dict[str, Caller] | None:
    """The token store when the server must authenticate, else None; refuses to listen beyond loopback without one."""
    if not needs_auth(params, host):
        return None
    store = load_store(params)
    if not store:
        raise LmforgeError(f"serving on {host} needs tokens for its callers and none are set: create one with "
                           f"`lmforge token NAME` (serve.auth.tokens_file) or set {params.serve.auth.tokens_env}; or "
                           "bind 127.0.0.1.")
    return store


def find_caller(store: dict[str, Caller], header: bytes | None) -> Caller | None:
    if not header or not header[:7].lower() == b"bearer ":
        return None
    # A dict lookup by digest, not a comparison of tokens: timing can tell at most how a digest begins, and a caller
    # cannot steer the digest of what they send towards a stored one.
    return store.get(digest(header[7:].decode("latin-1").strip()))


class BearerAuth:
    """ASGI middleware: 401 without a known token, 403 without the path's scope; the caller goes to
    scope["state"]["caller"] for the endpoint (feedback's sender, the canary's key)."""

    def __init__(self, app, store: dict[str, Caller]):
        self.app, self.store = app, store

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        header = next((value for key, value in scope["headers"] if key == b"authorization"), None)
        caller = find_caller(self.store, header)
        if caller is None:
            return await refuse(send, 401, b"a bearer token is required: send Authorization: Bearer TOKEN.")
        needed = SCOPE_OF_PATH.get(scope["path"], "score")
        if needed not in caller.scopes:
            return await refuse(send, 403, f"token {caller.name} may not {needed}; ask for one with that scope."
                                .encode())
        scope.setdefault("state", {})["caller"] = caller
        return await self.app(scope, receive, send)


async def refuse(send, status: int, sentence: bytes) -> None:
    import json

    body = json.dumps({"error": sentence.decode()}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="lmforge"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def add_token(path: Path, name: str, scopes: list[str]) -> str:
    """A new token for `name`, its digest appended to the store file (0600); the token itself is returned once."""
    import yaml

    entries = yaml.safe_load(path.read_text()) or {} if path.is_file() else {}
    if name in entries:
        raise LmforgeError(f"{path} already has a token named {name!r}; pick another name or delete that entry.")
    token = new_token()
    entries[name] = {"sha256": digest(token), "scopes": sorted(set(scopes) | {"score"})}
    from tasks.core.private_files import write_private

    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, yaml.safe_dump(entries, sort_keys=True), replace=True)
    return token

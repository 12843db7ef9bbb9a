"""serve.auth: bearer tokens (digests at rest), the scopes of each path, refusal to listen beyond loopback without
tokens; the canary key the server derives; inputs a kind's model would refuse answered 400 before they join a batch."""

from __future__ import annotations

import asyncio
import os
import stat
from types import SimpleNamespace

import pytest

from tasks.core.config import Params
from tasks.core.errors import LmforgeError
from tasks.servers.auth import BearerAuth, add_token, check_auth_ready, digest, load_store, parse_store
from tasks.servers.serving_requests import BadRequest, canary_key, check_batch


def params_with(**serve) -> Params:
    return Params.model_validate({"serve": serve})


def call(app, path: str, token: str | None = None) -> tuple[int, dict]:
    seen = {}

    async def inner(scope, receive, send):
        seen["caller"] = scope.get("state", {}).get("caller")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    sent = []

    async def send(message):
        sent.append(message)
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    asyncio.run(BearerAuth(inner, app)({"type": "http", "path": path, "headers": headers}, None, send))
    return sent[0]["status"], {"headers": dict(sent[0]["headers"]), **seen}


def test_a_new_token_is_stored_as_its_digest_only_and_private(tmp_path):
    path = tmp_path / "tokens.yaml"
    token = add_token(path, "alice", ["feedback"])
    text = path.read_text()
    assert token not in text and digest(token) in text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    store = parse_store(text, "test")
    assert store[digest(token)].scopes == {"score", "feedback"}
    with pytest.raises(LmforgeError, match="already has a token named 'alice'"):
        add_token(path, "alice", [])


def test_the_middleware_refuses_without_a_token_and_without_the_scope(tmp_path):
    scorer = add_token(tmp_path / "t.yaml", "scorer", [])
    sender = add_token(tmp_path / "t.yaml", "sender", ["feedback"])
    store = parse_store((tmp_path / "t.yaml").read_text(), "test")
    status, seen = call(store, "/invocations")
    assert status == 401 and seen["headers"][b"www-authenticate"].startswith(b"Bearer")
    assert call(store, "/invocations", "lmf_wrong")[0] == 401
    assert call(store, "/invocations", digest(scorer))[0] == 401, "the digest itself is no token"
    status, seen = call(store, "/invocations", scorer)
    assert status == 200 and seen["caller"].identity == "token:scorer"
    assert call(store, "/feedback", scorer)[0] == 403
    assert call(store, "/feedback", sender)[0] == 200
    assert call(store, "/ping")[0] == 200, "a health probe needs no token"


def test_serving_beyond_loopback_needs_tokens(tmp_path, monkeypatch):
    monkeypatch.delenv("LMFORGE_SERVE_TOKENS", raising=False)
    assert check_auth_ready(params_with(), "127.0.0.1") is None
    with pytest.raises(LmforgeError, match="serving on 0.0.0.0 needs tokens for its callers"):
        check_auth_ready(params_with(), "0.0.0.0")
    with pytest.raises(LmforgeError, match="needs tokens for its callers"):
        check_auth_ready(params_with(auth={"required": "always"}), "127.0.0.1")
    token = add_token(tmp_path / "t.yaml", "ops", [])
    monkeypatch.setenv("LMFORGE_SERVE_TOKENS", (tmp_path / "t.yaml").read_text())
    assert digest(token) in check_auth_ready(params_with(), "0.0.0.0")
    with pytest.raises(LmforgeError, match="does not exist"):
        load_store(params_with(auth={"tokens_file": str(tmp_path / "none.yaml")}))
    with pytest.raises(LmforgeError, match="64-hex sha256"):
        parse_store("bob: {sha256: abc}", "test")


def test_the_canary_key_is_the_servers_unless_the_client_is_trusted():
    caller = SimpleNamespace(identity="token:alice")
    request = SimpleNamespace(headers={"X-Canary-Key": "pick-me"}, scope={"state": {"caller": caller}},
                              client=SimpleNamespace(host="10.0.0.7"))
    assert canary_key(request, params_with().serve.canary) == "token:alice"
    request.scope = {}
    assert canary_key(request, params_with().serve.canary) == "10.0.0.7"
    trusted = params_with(canary={"trust_client_key": True}).serve.canary
    assert canary_key(request, trusted) == "pick-me"


def test_a_qa_input_without_its_separator_is_the_clients_error():
    qa = Params.model_validate({"task": "qa"})
    check_batch(["Where? || Tom went to Oslo."], qa, 2)
    with pytest.raises(BadRequest, match="text 1 has no '\\|\\|'") as refused:
        check_batch(["Where? || Oslo.", "no separator here"], qa, 2)
    assert refused.value.status == 400
    check_batch(["no separator needed"], params_with())

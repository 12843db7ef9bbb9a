"""Fixtures that point huggingface_hub at a test's own Hub: a cache folder (HF_HOME) laid out by the tests, offline or
online against tests/hub_server.py's stand-in on 127.0.0.1. huggingface_hub reads HF_HOME, HF_ENDPOINT and
HF_HUB_OFFLINE once, when imported, so an in-process test sets its module constants as well as the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.families import cached_checkpoint, install_in_hub_cache
from tests.hub_server import FakeHub


def point_hub(monkeypatch, hf_home: Path, endpoint: str | None = None) -> None:
    """huggingface_hub (here and in child processes) on `hf_home`'s cache; offline unless an endpoint is given."""
    from huggingface_hub import constants

    cache = hf_home / "hub"
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setattr(constants, "HF_HOME", str(hf_home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HUGGINGFACE_HUB_CACHE", str(cache), raising=False)
    offline = endpoint is None
    monkeypatch.setenv("HF_HUB_OFFLINE", "1" if offline else "0")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    if endpoint:
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        monkeypatch.setattr(constants, "ENDPOINT", endpoint)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    from tasks.hub.models import resolve_commit

    resolve_commit.cache_clear()  # a commit resolved in another test's cache is not in this one


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory) -> Path:
    """Where the session's tiny checkpoints are built, once each (tests/families.py)."""
    return tmp_path_factory.mktemp("checkpoints")


@pytest.fixture
def hub_cache(tmp_path, monkeypatch, checkpoints):
    """An offline Hub cache of this test's own; returns install(family, repo_id, revision="main") -> sha."""
    hf_home = tmp_path / "hf"
    point_hub(monkeypatch, hf_home)

    def install(family: str, repo_id: str, revision: str = "main", salt: str = "") -> str:
        from tests.families import commit_sha

        folder = cached_checkpoint(family, checkpoints)
        return install_in_hub_cache(folder, hf_home, repo_id, revision, commit_sha(folder, repo_id + salt))

    return install


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    """The stand-in Hub, online, with an empty cache; stopped after the test."""
    hub = FakeHub()
    endpoint = hub.start()
    point_hub(monkeypatch, tmp_path / "hf", endpoint)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    yield hub
    hub.stop()

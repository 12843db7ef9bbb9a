"""The training environment's fingerprint: the installed packages with their hash, torch and its threads, the CPU's
instruction set, the hash of the lock the packages were installed from; tags carry everything but the package list."""

import hashlib
import sys

from tasks.core.lockfile import LOCK_FILE, find_lock, hash_lock
from tasks.training.environment import describe_environment, environment_tags, list_packages


def test_the_fingerprint_names_the_packages_torch_and_the_cpu():
    import torch

    environment = describe_environment()
    packages = list_packages()
    assert environment["packages"] == packages and any(name.startswith("torch==") for name in packages)
    assert packages == sorted(packages) and environment["torch"] == torch.__version__
    assert environment["torch_threads"] == torch.get_num_threads() and environment["cpu_capability"]
    tags = environment_tags(environment)
    assert "env_packages" not in tags and tags["env_packages_hash"] == environment["packages_hash"]
    assert all(isinstance(value, str) for value in tags.values())


def test_the_fingerprint_carries_the_lock_hash_computed_once_a_process():
    hash_lock.cache_clear()
    first, second = describe_environment(), describe_environment()
    assert first["lock_hash"] == hashlib.sha256(find_lock().read_bytes()).hexdigest() == second["lock_hash"]
    assert hash_lock.cache_info().misses == 1 and environment_tags(first)["env_lock_hash"] == first["lock_hash"]


def test_the_lock_a_venv_was_installed_from_comes_before_the_projects(tmp_path, monkeypatch):
    (tmp_path / LOCK_FILE).write_text("pip==26.3 --hash=sha256:00\n")
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    hash_lock.cache_clear()
    try:
        assert hash_lock() == hashlib.sha256(b"pip==26.3 --hash=sha256:00\n").hexdigest()
    finally:
        hash_lock.cache_clear()

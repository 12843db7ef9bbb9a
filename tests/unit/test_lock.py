"""requirements.lock agrees with pyproject.toml: every direct pin (and the extras set-up installs, and
requirements.in's) at the same version, every entry pinned with a sha256 hash; and the check fails on a doctored copy."""

import re
from pathlib import Path

from tasks.core.lockfile import LOCKED_EXTRAS, check_lock, describe_lock_change, read_lock_entries

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT, LOCK, MORE = ((ROOT / name).read_text() for name in ("pyproject.toml", "requirements.lock", "requirements.in"))


def test_the_lock_holds_every_direct_pin_with_its_hashes():
    assert check_lock(PYPROJECT, LOCK, MORE) == []
    entries = read_lock_entries(LOCK)
    assert entries["torch"][0].startswith("torch==2.13.0") and {"pip", "setuptools", "pytest"} <= set(entries)


def test_a_pin_the_lock_disagrees_with_or_lacks_is_named():
    moved = PYPROJECT.replace('"transformers==5.24.0"', '"transformers==5.25.0"')
    added = PYPROJECT.replace('"pytest==9.2.0"', '"pytest==9.2.0", "left-pad==1.0"')
    assert check_lock(moved, LOCK, MORE) == [
        "transformers==5.25.0 is pinned in pyproject.toml but requirements.lock has 5.24.0"]
    assert check_lock(added, LOCK, MORE) == ["left-pad==1.0 is a direct dependency but requirements.lock lacks it"]
    assert check_lock(PYPROJECT, LOCK, MORE.replace("pip==26.3", "pip==26.4")) != []


def test_an_entry_without_a_hash_or_a_pin_is_named():
    unhashed = re.sub(r"(?m)^(mlflow==\S+) \\\n(    --hash=\S+ \\\n)*    --hash=\S+$", r"\1", LOCK)
    assert unhashed != LOCK
    assert check_lock(PYPROJECT, unhashed, MORE) == ["mlflow==3.17.2 in requirements.lock carries no --hash=sha256:"]
    floating = LOCK.replace("absl-py==2.5.1", "absl-py>=2")
    assert check_lock(PYPROJECT, floating, MORE) == [
        "absl-py>=2 in requirements.lock is not pinned to one version (NAME==VERSION)"]


def test_make_lock_resolves_the_extras_the_check_expects():
    rule = (ROOT / "Makefile").read_text().split("\nlock:", 1)[1]
    assert all(f"--extra {extra}" in rule for extra in LOCKED_EXTRAS) and "--generate-hashes" in rule


def test_a_lock_change_is_a_reason_only_when_both_sides_are_known():
    assert describe_lock_change("a" * 64, "a" * 64) == "" and describe_lock_change("", "b" * 64) == ""
    assert "another requirements.lock" in describe_lock_change("a" * 64, "b" * 64)

"""requirements.lock: every package `make setup` installs, pinned with its hashes (`make lock` writes it with
pip-compile from pyproject.toml and requirements.in). Here: the check that the lock agrees with pyproject's pins (the
unit tests run it), and the lock's hash, recorded beside the training environment's fingerprint so that `lmforge
reproduce` can tell a rebuild installed from another lock."""

from __future__ import annotations

import functools
import hashlib
import sys
from pathlib import Path

LOCK_FILE = "requirements.lock"
# The extras the lock holds: make setup installs them all from it (test for make test, pretrained for the benches).
LOCKED_EXTRAS = ("test", "pretrained")
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def read_lock_entries(text: str) -> dict[str, tuple[str, list[str]]]:
    """The lock's entries by normalised name: (the `NAME==VERSION` line, its hashes); comments and options skipped."""
    from packaging.utils import canonicalize_name

    entries = {}
    # A requirement spans continuation lines (`\` at the end); its hashes are options on those lines.
    for line in text.replace("\\\n", " ").splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        requirement, *options = line.split()
        hashes = [option.split("=", 1)[1] for option in options if option.startswith("--hash=")]
        entries[canonicalize_name(requirement.split("==", 1)[0].split("[", 1)[0])] = (requirement, hashes)
    return entries


def read_direct_pins(pyproject_text: str, extras: tuple[str, ...] = LOCKED_EXTRAS,
                     more: str = "") -> dict[str, str]:
    """pyproject's dependencies and the named extras' (and `more`, requirements.in's lines): name -> specifier."""
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads(pyproject_text)["project"]
    lines = list(project.get("dependencies", []))
    for extra in extras:
        lines += project.get("optional-dependencies", {}).get(extra, [])
    lines += [line.split("#", 1)[0].strip() for line in more.splitlines()]
    pins = {}
    for line in filter(None, lines):
        requirement = Requirement(line)
        pins[canonicalize_name(requirement.name)] = str(requirement.specifier)
    return pins


def check_lock(pyproject_text: str, lock_text: str, more: str = "",
               extras: tuple[str, ...] = LOCKED_EXTRAS) -> list[str]:
    """What disagrees, one sentence each (empty: the lock holds every direct pin at its version, each entry pinned
    with `==` and at least one sha256 hash). A local label (torch's +cpu) satisfies a pin without one, as pip has it."""
    from packaging.specifiers import SpecifierSet

    entries, problems = read_lock_entries(lock_text), []
    for name, specifier in sorted(read_direct_pins(pyproject_text, extras, more).items()):
        if name not in entries:
            problems.append(f"{name}{specifier} is a direct dependency but {LOCK_FILE} lacks it")
            continue
        locked = entries[name][0].split("==", 1)[-1]
        if "==" in entries[name][0] and not SpecifierSet(specifier).contains(locked, prereleases=True):
            problems.append(f"{name}{specifier} is pinned in pyproject.toml but {LOCK_FILE} has {locked}")
    for name, (requirement, hashes) in sorted(entries.items()):
        if "==" not in requirement:
            problems.append(f"{requirement} in {LOCK_FILE} is not pinned to one version (NAME==VERSION)")
        if not any(value.startswith("sha256:") for value in hashes):
            problems.append(f"{requirement} in {LOCK_FILE} carries no --hash=sha256:")
    return problems


def find_lock() -> Path:
    """The lock this environment was installed from: make setup copies it into the venv once the install succeeded;
    an environment set up another way falls back to the project's own (what it should have been installed from)."""
    installed = Path(sys.prefix) / LOCK_FILE
    return installed if installed.is_file() else PROJECT_ROOT / LOCK_FILE


@functools.cache  # once a process: a run trains and records several times, the lock does not change under it
def hash_lock() -> str:
    """sha256 of the lock (as `sha256sum requirements.lock` prints it), or "" when there is none."""
    try:
        return hashlib.sha256(find_lock().read_bytes()).hexdigest()
    except OSError:
        return ""


def describe_lock_change(recorded: str, here: str) -> str:
    """Why a rebuild installed from another lock is not a faithful one, or "" (the same lock, or one side unknown)."""
    if not recorded or not here or recorded == here:
        return ""
    return (f"this environment was installed from another {LOCK_FILE} (sha256 {here[:12]}, the version's was "
            f"{recorded[:12]}): install the version's lock (make setup at its commit) to rebuild it faithfully")

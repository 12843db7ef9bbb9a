"""Output folders on a disk that fills up during training, or that is read-only: one sentence and a non-zero exit,
and nothing half-written that the next run would pick up. Each disk is a real tmpfs mount (CI runs as root)."""

from __future__ import annotations

import os
import subprocess
import time
import sys
from pathlib import Path

import pytest

from tests.conftest import FAST_PARAMS, make_project, merge
from tests.flows.test_overlap import TINY

pytestmark = [pytest.mark.flow, pytest.mark.faults]


@pytest.fixture
def mount():
    """Mount a tmpfs at a folder: mount(folder, options); unmounted at the end."""
    mounted: list[Path] = []

    def make(folder: Path, options: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
        if done.returncode:
            why = f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}"
            pytest.fail(why) if os.environ.get("LMFORGE_REQUIRE_MOUNT") == "1" else pytest.skip(why)
        mounted.append(folder)
        return folder

    yield make
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def run_lmforge(root: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(root / ".prefect")
    return subprocess.run([sys.executable, "-m", "cli", "run"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=600)


def test_read_only_output_folder_is_one_sentence_before_anything_runs(tmp_path, mount):
    root = make_project(tmp_path / "project", FAST_PARAMS)
    disk = mount(root / "data" / "model", "ro,size=1m")
    done = run_lmforge(root)
    assert done.returncode == 1, done.stderr[-3000:]
    assert f"error: paths.model: cannot write in {disk} (Read-only file system)" in done.stderr, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and not (root / "data/dataset").exists()


def test_disk_full_while_training_then_freed_the_next_run_finishes(tmp_path, mount):
    """Checkpoints on a disk with half a megabyte left (less than one checkpoint): train stops in one sentence; the
    cut-short checkpoint is never resumed from; with space freed, the next run trains and registers."""
    root = make_project(tmp_path / "project", merge(TINY, {"promote": {"floors": {"f1_macro": 1.0}}}))  # no export
    disk = mount(root / "data" / "checkpoints", "size=32m")
    filler = disk / "filler"
    filler.write_bytes(b"\0" * (31 * 1024 * 1024 + 512 * 1024))
    done = run_lmforge(root)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "error: train could not write" in done.stderr and "No space left on device" in done.stderr, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and not (root / "data/model/lmforge.json").exists()

    filler.unlink()
    again = run_lmforge(root)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "[reuse]" not in again.stderr and "version 1" in again.stdout, again.stdout
    assert "[resume] removing" in again.stderr or "[resume] from" not in again.stderr, again.stderr[-3000:]
    assert (root / "data/model/lmforge.json").is_file()


def test_serve_keeps_answering_when_its_log_disk_is_full_or_read_only(tmp_path, mount, monkeypatch):
    """The inference log on a full disk, then on a read-only one: every request is answered, the rows not logged are
    counted on /ping with the reason in one sentence, and nothing half-written is left for the monitor to read."""
    import json

    from tests.flows.test_retrain import serving

    root = make_project(tmp_path / "project", TINY)
    assert run_lmforge(root).returncode == 0
    monkeypatch.chdir(root)
    full = mount(root / "data" / "log-full", "size=1m")
    handle = os.open(full / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(handle, b"\0" * 4096):  # to the last block
            pass
    except OSError:
        pass
    finally:
        os.close(handle)
    mount(root / "data" / "log-ro", "ro,size=1m")
    for folder, reason in (("log-full", "No space left on device"), ("log-ro", "Read-only file system")):
        with serving("--set", f"paths.inference_log=data/{folder}", "--set", "monitor.flush_s=0.2") as send:
            for _ in range(5):
                status, answer = send(json.dumps({"inputs": ["fine " * 300, "the screen broke"]}).encode())
                assert status == 200 and len(answer["predictions"]) == 2, answer
            for _ in range(150):  # until the writer has tried every row (30 s: slower on a busy machine)
                status, ping = send(b"", "/ping")
                if ping["log"]["queued"] == 0 and ping["log"]["not_logged"] + ping["log"]["written"] == 10:
                    break
                time.sleep(0.2)
        assert status == 200 and ping["log"]["not_logged"] == 10 and ping["log"]["written"] == 0, json.dumps(ping)
        assert reason in ping["log"]["error"] and "answers go on" in ping["log"]["error"], json.dumps(ping)
        assert not [path for path in (root / "data" / folder).iterdir() if path.name != "filler"], folder

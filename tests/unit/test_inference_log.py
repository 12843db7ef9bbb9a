"""The inference log: rows reach Parquet segments off the caller's thread; a full queue or a broken disk costs rows,
never an exception; readers never see half a segment; the retention prunes."""

import os
import stat
import time

import pytest

from tasks.core.config import MonitorParams
from tasks.core.errors import LmforgeError
from tasks.data.inference_log import InferenceLog, make_rows, new_request_ids, open_log, prune_segments, read_log

CONTEXT = {"source": "serve", "model_name": "m", "model_version": "3", "alias": "champion", "backend": "onnx"}


def rows_for(texts, how="text"):
    answers = [{"label": "positive", "score": 0.9}, {"output": "deux"}, {"answer": "12", "score": 0.5}][: len(texts)]
    return make_rows(texts, answers, new_request_ids(len(texts)), CONTEXT, 12.5, how)


def test_rows_reach_a_segment_with_their_request_ids(tmp_path):
    log = InferenceLog(tmp_path / "log", MonitorParams(flush_s=0.05))
    rows = rows_for(["great", "zwei", "how many?"])
    log.record(rows)
    status = log.close()
    assert status == {"written": 3, "not_logged": 0, "queued": 0, "error": None, "folder": str(tmp_path / "log")}
    frame = read_log(tmp_path / "log")
    assert frame["request_id"].tolist() == [row["request_id"] for row in rows] and frame["request_id"].nunique() == 3
    assert frame["output"].tolist() == ["positive", "deux", "12"] and frame["input"].tolist() == ["great", "zwei", "how many?"]
    assert frame["score"].isna().tolist() == [False, True, False] and set(frame["model_version"]) == {"3"}
    assert read_log(tmp_path / "log", since=time.time() + 60).empty


def test_two_logs_of_one_process_within_a_second_keep_every_row(tmp_path):
    """Segment names carry each log's own token: two logs opened in one second (a serve's and a predict's in one
    process) never write one name, so no segment replaces another while its rows count as written."""
    logs = [InferenceLog(tmp_path / "log", MonitorParams(flush_s=60)) for _ in range(2)]
    sent = [rows_for(["great", "zwei", "how many?"]) for _ in logs]
    for log, rows in zip(logs, sent):
        log.record(rows)
    assert [log.close()["written"] for log in logs] == [3, 3]
    frame = read_log(tmp_path / "log")
    assert sorted(frame["request_id"]) == sorted(row["request_id"] for rows in sent for row in rows)


def test_inputs_are_kept_as_asked(monkeypatch):
    monkeypatch.setenv("LMFORGE_LOG_SECRET", "a-test-secret-of-some-length")
    hashed, nothing = rows_for(["great"], "hash")[0], rows_for(["great"], "none")[0]
    assert len(hashed["input"]) == 64 and hashed["input"] != "great" and nothing["input"] is None


def test_hashed_inputs_are_keyed_by_the_project_secret(monkeypatch):
    """HMAC-SHA256: the same text under one secret gives one digest (duplicates show, every process agrees); another
    secret gives another; and it is not the plain SHA-256 anyone can compute from a guessed input."""
    import hashlib

    from tasks.data.log_secret import hash_input

    monkeypatch.setenv("LMFORGE_LOG_SECRET", "a-test-secret-of-some-length")
    first = rows_for(["ana@example.org"], "hash")[0]["input"]
    assert first == hash_input("ana@example.org") == hash_input("ana@example.org", b"a-test-secret-of-some-length")
    assert first != hash_input("ana@example.org", b"another-secret-of-some-length")
    assert first != hashlib.sha256(b"ana@example.org").hexdigest()
    monkeypatch.setenv("LMFORGE_LOG_SECRET", "short")
    with pytest.raises(LmforgeError, match="LMFORGE_LOG_SECRET is 5 characters long"):
        open_log("unused", MonitorParams(log_inputs="hash"))


def test_without_the_environment_the_secret_is_a_private_file_made_once(tmp_path, monkeypatch):
    from tasks.data.log_secret import SECRET_FILE, hash_input, log_secret

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LMFORGE_LOG_SECRET", raising=False)
    old = os.umask(0o000)  # the modes must not depend on the user's umask
    try:
        secret = log_secret()
    finally:
        os.umask(old)
    assert len(secret) == 64 and (tmp_path / SECRET_FILE).read_bytes() == secret
    assert stat.S_IMODE((tmp_path / SECRET_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / SECRET_FILE).parent.stat().st_mode) == 0o700
    assert log_secret() == secret and hash_input("x") == hash_input("x", secret)  # the same file, not a new one


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_segments_and_their_folder_are_readable_by_their_owner_alone(tmp_path, umask):
    old = os.umask(umask)
    try:
        log = InferenceLog(tmp_path / "data" / "log", MonitorParams(flush_s=0.05))
        log.record(rows_for(["a"]))
        assert log.close()["written"] == 1
    finally:
        os.umask(old)
    segments = list((tmp_path / "data" / "log").iterdir())
    assert len(segments) == 1 and stat.S_IMODE(segments[0].stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "data" / "log").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o777 & ~umask  # its parents are ordinary folders


def test_a_full_queue_counts_rows_and_never_blocks(tmp_path):
    log = InferenceLog(tmp_path / "log", MonitorParams(queue_rows=2, flush_s=60))
    started = time.perf_counter()
    log.record(rows_for(["a", "b", "c"]) + rows_for(["d", "e"]))
    assert time.perf_counter() - started < 0.5
    status = log.close()
    assert status["written"] == 2 and status["not_logged"] == 3


def test_an_unwritable_folder_costs_rows_and_says_why_once(tmp_path):
    (tmp_path / "log").write_text("a file where the folder should be")
    log = InferenceLog(tmp_path / "log", MonitorParams(flush_s=0.05))
    log.record(rows_for(["a", "b"]))
    status = log.close()
    assert status["written"] == 0 and status["not_logged"] == 2
    assert status["error"].startswith(f"{tmp_path / 'log'}: the inference log cannot be written") and status["error"].endswith(".")


def test_a_read_only_disk_costs_every_row_and_the_writer_lives_on(tmp_path, monkeypatch):
    """On a read-only disk the temporary cannot be opened nor removed (EROFS, not ENOENT): each batch is counted and
    the writer goes on to the next, rather than dying with the rest of the rows queued."""
    import errno
    import pathlib

    import pyarrow.parquet as pq

    def read_only(*_args, **_kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(pq, "write_table", read_only)
    monkeypatch.setattr(pathlib.Path, "unlink", read_only)
    log = InferenceLog(tmp_path, MonitorParams(flush_s=0.02))
    for texts in (["a", "b"], ["c", "d"], ["e"]):
        log.record(rows_for(texts))
        time.sleep(0.1)  # one batch per flush
    assert log.thread.is_alive()
    status = log.close()
    assert status["not_logged"] == 5 and status["written"] == 0 and status["queued"] == 0, status
    assert "(Read-only file system)" in status["error"], status

def test_readers_skip_half_written_segments_and_the_retention_prunes(tmp_path):
    folder = tmp_path / "log"
    log = InferenceLog(folder, MonitorParams(flush_s=0.05))
    log.record(rows_for(["a"]))
    log.close()
    (folder / ".20260101T000000-1-000000.tmp").write_bytes(b"PAR1 half a segment")
    assert len(read_log(folder)) == 1
    old = time.time() - 40 * 86400
    for path in folder.iterdir():
        os.utime(path, (old, old))
    assert prune_segments(folder, retention_days=30) == 2 and not list(folder.iterdir())


def test_the_retention_is_applied_while_the_log_stays_open(tmp_path):
    """A server runs for months: every monitor.retention_check_s its writer deletes what the retention drops, not
    only when it starts; a segment within the retention stays."""
    folder = tmp_path / "log"
    log = InferenceLog(folder, MonitorParams(flush_s=0.02, retention_check_s=0.05, retention_days=1))
    log.record(rows_for(["kept"]))
    old = time.time() - 2 * 86400
    folder.mkdir(exist_ok=True)
    stale = folder / "20200101T000000-host-1-abcdef01-000000.parquet"
    stale.write_bytes(b"PAR1 an old segment")
    os.utime(stale, (old, old))
    deadline = time.monotonic() + 5
    while stale.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not stale.exists() and log.thread.is_alive()
    log.close()
    assert read_log(folder)["input"].tolist() == ["kept"] and log.pruned == 1


def test_the_retention_check_interval_must_be_positive():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="retention_check_s"):
        MonitorParams(retention_check_s=0)

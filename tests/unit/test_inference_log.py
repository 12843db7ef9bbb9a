"""The inference log: rows reach Parquet segments off the caller's thread; a full queue or a broken disk costs rows,
never an exception; readers never see half a segment; the retention prunes."""

import os
import time

from tasks.core.config import MonitorParams
from tasks.data.inference_log import InferenceLog, make_rows, new_request_ids, prune_segments, read_log

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


def test_inputs_are_kept_as_asked():
    hashed, nothing = rows_for(["great"], "hash")[0], rows_for(["great"], "none")[0]
    assert len(hashed["input"]) == 64 and hashed["input"] != "great" and nothing["input"] is None


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

"""Labels fed back: joined to the inference log by request id, appended whole or not at all, read by ingest as
training rows (test rows untouched); the watcher reports a settled change of the inputs once."""

import pandas as pd
import pytest

from tasks.core.config import MonitorParams, load_params
from tasks.core.errors import LmforgeError
from tasks.data.feedback import read_feedback
from tasks.feedback import feed_back
from tasks.data.inference_log import InferenceLog, make_rows

CONTEXT = {"source": "serve", "model_name": "m", "model_version": "1", "alias": "champion", "backend": "eager"}
TEXTS = ["the battery is great", "the screen broke", "fine", "awful sound"]


@pytest.fixture
def logged(root):
    """A project folder with params, a training split and four logged requests r0..r3."""
    (root / "params.yaml").write_text("data:\n  source: builtin:reviews\nfeedback:\n  max_share: 1\n")
    params = load_params("params.yaml")
    (root / "data/dataset").mkdir(parents=True)
    pd.DataFrame({"text": ["a", "b"], "label": ["positive", "negative"]}).to_parquet(root / "data/dataset/train.parquet")
    log = InferenceLog(params.paths.inference_log, MonitorParams(flush_s=0.05))
    log.record(make_rows(TEXTS, [{"label": "positive"}] * 4, [f"r{i}" for i in range(4)], CONTEXT, 5.0, "text"))
    log.close()
    return params


def append_feedback(params, path, sent_by="local:tester"):
    fed = feed_back(params, path, sent_by)
    return fed.rows, fed.segment


def write_labels(root, rows, name="labels.csv"):
    pd.DataFrame(rows).to_csv(root / name, index=False)
    return root / name


def test_labels_become_rows_with_their_logged_inputs(logged, root):
    rows, segment = append_feedback(logged, write_labels(root, {"request_id": ["r1", "r3"],
                                                                "label": ["negative", "negative"]}))
    assert rows == 2 and segment.parent.as_posix().endswith("data/feedback")
    fed = read_feedback(logged.paths.feedback)
    assert fed[["text", "label", "request_id"]].values.tolist() == [["the screen broke", "negative", "r1"],
                                                                      ["awful sound", "negative", "r3"]]
    with pytest.raises(LmforgeError, match="r1 was fed back before"):
        append_feedback(logged, write_labels(root, {"request_id": ["r1"], "label": ["positive"]}))


@pytest.mark.parametrize("rows, message", [
    ({"request_id": ["r0", "nope"], "label": ["positive", "negative"]}, "1 of 2 request ids are not in the inference log"),
    ({"request_id": ["r0", "r1"], "label": ["positive", None]}, "row 2 has an empty request_id or label"),
    ({"request_id": ["r0", "r0"], "label": ["positive", "negative"]}, "r0 is labelled twice"),
    ({"request_id": ["r0"], "label": ["neutral"]}, "label 'neutral' .* is not one of the 2 labels"),
    ({"id": ["r0"], "label": ["positive"]}, "no request_id column"),
])
def test_a_bad_labels_file_is_refused_whole(logged, root, rows, message):
    with pytest.raises(LmforgeError, match=message):
        append_feedback(logged, write_labels(root, rows))
    assert read_feedback(logged.paths.feedback).empty  # nothing appended, so no new data version


def test_requests_logged_without_text_cannot_be_labelled(root):
    (root / "params.yaml").write_text("data:\n  source: builtin:reviews\n")
    params = load_params("params.yaml")
    log = InferenceLog(params.paths.inference_log, MonitorParams(flush_s=0.05))
    log.record(make_rows(["secret"], [{"label": "positive"}], ["h0"], CONTEXT, 5.0, "hash"))
    log.close()
    with pytest.raises(LmforgeError, match="logged without their text"):
        append_feedback(params, write_labels(root, {"request_id": ["h0"], "label": ["positive"]}))


def test_ingest_adds_fed_back_rows_to_train_only(logged, root):
    from tasks.ingest import ingest_dataset

    before = ingest_dataset(logged)
    append_feedback(logged, write_labels(root, {"request_id": ["r0", "r2"], "label": ["positive", "positive"]}))
    after = ingest_dataset(logged)
    assert after == before | {"train": before["train"] + 2}
    train = pd.read_parquet(root / "data/dataset/train.parquet")
    assert train.tail(2)["text"].tolist() == ["the battery is great", "fine"] and list(train.columns) == ["text", "label"]


def test_the_watcher_reports_a_settled_change_until_ingest_reads_it(logged, root):
    from tasks.data.freshness import fingerprint_inputs, write_stamp
    from tasks.data.watch import changed_event, watch_inputs

    stamped = fingerprint_inputs(logged)
    write_stamp(logged, stamped, "v1")
    seen, now = [], [0.0]

    def sleep(seconds):
        now[0] += seconds
        if now[0] == 1:  # labels arrive while it watches
            append_feedback(logged, write_labels(root, {"request_id": ["r0"], "label": ["positive"]}))
        if now[0] == 7:  # a retrain ingests them
            write_stamp(logged, fingerprint_inputs(logged), "v2")
        if now[0] >= 12:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        watch_inputs(logged, seen.append, 1.0, 2.0, repeat_s=3.0, sleep=sleep, clock=lambda: now[0])
    # Seen at t=1, settled and sent at t=3, sent again at t=6 (ingest had not read it), quiet once ingest has.
    assert len(seen) == 2 and seen[0] == seen[1], seen
    assert seen[0].previous == stamped and seen[0].fingerprint == fingerprint_inputs(logged) != stamped
    event = changed_event(logged, seen[0])
    assert event["event"] == "lmforge.data.changed" and event["payload"]["params_path"] == "params.yaml"
    assert event["resource"]["prefect.resource.id"] == f"lmforge.data.{logged.registry.model_name}"
    assert watch_inputs(logged, seen.append, 1.0, 0.0, once=True) == 0  # ingest has read it: nothing new


def test_fed_back_rows_get_the_training_splits_other_columns(root):
    from tasks.ingest import merge_feedback

    (root / "params.yaml").write_text("task: qa\ndata:\n  source: builtin:facts\nfeedback:\n  max_share: 1\n")
    params = load_params("params.yaml")
    (root / params.paths.feedback).mkdir(parents=True)
    pd.DataFrame({"question": ["Who?"], "context": ["It was Ana, then Tom."], "answer": ["Tom"],
                  "request_id": ["q1"]}).to_parquet(root / params.paths.feedback / "a.parquet")
    train = pd.DataFrame({"context": ["Mia ran."], "question": ["Who ran?"], "answer": ["Mia"], "answer_start": [0],
                          "group": ["g1"]})
    splits, _ = merge_feedback({"train": train, "test": train.iloc[:0]}, params)
    assert splits["train"].to_dict("records")[1] == {"context": "It was Ana, then Tom.", "question": "Who?",
                                                     "answer": "Tom", "answer_start": 17, "group": "feedback q1"}

"""Feedback's provenance and limits: who sent each row and when (never trained on), feedback.max_share at ingest and
at `lmforge feedback`, contradictions of a confident champion held for review, and approval for new feedback."""

import os
import pwd

import pandas as pd
import pytest

from tasks.core.config import MonitorParams, load_params
from tasks.core.errors import LmforgeError
from tasks.data.feedback import read_feedback
from tasks.data.feedback_ledger import (FeedbackTaken, approval_needed, cap_rows, claim_taken, count_new_rows,
                                        read_taken, record_taken, take_feedback)
from tasks.data.inference_log import InferenceLog, make_rows
from tasks.feedback import feed_back

CONTEXT = {"source": "serve", "model_name": "m", "model_version": "1", "alias": "champion", "backend": "eager"}


def make_project(root, extra="", train_rows=10, scores=(0.99, 0.5, 0.95, None)):
    """Params, a training split of `train_rows` rows and four logged requests r0..r3, all answered "positive" with
    these scores (r2 by the champion and, aside, by a shadow challenger)."""
    (root / "params.yaml").write_text("data:\n  source: builtin:reviews\n" + extra)
    params = load_params("params.yaml")
    (root / "data/dataset").mkdir(parents=True)
    pd.DataFrame({"text": [f"t{i}" for i in range(train_rows)],
                  "label": ["positive", "negative"] * (train_rows // 2)}).to_parquet(root / "data/dataset/train.parquet")
    log = InferenceLog(params.paths.inference_log, MonitorParams(flush_s=0.05))
    answers = [{"label": "positive"} | ({} if score is None else {"score": score}) for score in scores]
    log.record(make_rows(["great", "broke", "fine", "awful"], answers, ["r0", "r1", "r2", "r3"], CONTEXT, 5.0, "text"))
    log.record(make_rows(["fine"], [{"label": "negative", "score": 0.99}], ["r2"], CONTEXT | {"role": "shadow"},
                         5.0, "text"))
    log.close()
    return params


def write_labels(root, ids, labels, name="labels.csv"):
    pd.DataFrame({"request_id": ids, "label": labels}).to_csv(root / name, index=False)
    return root / name


def test_local_identity_is_the_process_account_not_the_user_variable(monkeypatch):
    from tasks.core.identity import local_identity

    monkeypatch.setenv("USER", "mallory")
    assert local_identity() == f"local:{pwd.getpwuid(os.getuid()).pw_name}"


def test_each_row_records_who_sent_it_and_ingest_does_not_train_on_it(root):
    from tasks.ingest import merge_feedback

    params = make_project(root, "feedback:\n  max_share: 1\n")
    fed = feed_back(params, write_labels(root, ["r1", "r3"], ["negative", "negative"]), "token:alice")
    assert (fed.rows, fed.held, fed.sent_by) == (2, 0, "token:alice")
    rows = read_feedback(params.paths.feedback)
    assert rows["feedback_sent_by"].tolist() == ["token:alice"] * 2
    assert rows["feedback_time"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
    train = pd.DataFrame({"text": ["a"], "label": ["positive"]})
    merged = merge_feedback({"train": train, "test": train}, params)[0]["train"]
    assert list(merged.columns) == ["text", "label"] and merged["text"].tolist() == ["a", "broke", "awful"]
    with pytest.raises(LmforgeError, match="identity of who sent it"):
        feed_back(params, write_labels(root, ["r0"], ["positive"]), " ")


def test_the_cap_is_a_share_of_the_training_rows_feedback_included():
    assert cap_rows(80, 0.2) == 20  # 20 / (80 + 20) = 0.2
    assert cap_rows(81, 0.2) == 20 and cap_rows(3, 0.2) == 0 and cap_rows(10, 0.5) == 10
    assert cap_rows(10, 1.0) is None


def test_ingest_keeps_the_earliest_rows_up_to_the_cap_and_holds_the_rest():
    segments = [("a.parquet", pd.DataFrame({"text": ["1", "2"], "request_id": ["x1", "x2"]})),
                ("b.parquet", pd.DataFrame({"text": ["3", "4"], "request_id": ["x3", "x4"]}))]
    rows, taken = take_feedback(segments, 12, 0.2)  # 12 * 0.2 / 0.8 = 3 rows
    assert rows["text"].tolist() == ["1", "2", "3"]
    assert taken == FeedbackTaken(rows=3, held=1, source_rows=12, segments={"a.parquet": 2, "b.parquet": 1})
    rows, taken = take_feedback(segments, 12, 1.0)
    assert taken.rows == 4 and taken.held == 0


def test_ingest_says_how_many_rows_it_held(root, capsys):
    from tasks.ingest import merge_feedback

    params = make_project(root, "feedback:\n  max_share: 1\n")
    feed_back(params, write_labels(root, ["r1", "r3"], ["negative", "negative"]), "local:me")
    capped = params.model_copy(update={"feedback": params.feedback.model_copy(update={"max_share": 0.25})})
    train = pd.DataFrame({"text": ["a", "b", "c"], "label": ["positive"] * 3})  # 3 * 0.25 / 0.75 = 1 row
    splits, taken = merge_feedback({"train": train, "test": train}, capped)
    assert splits["train"]["text"].tolist() == ["a", "b", "c", "broke"] and (taken.rows, taken.held) == (1, 1)
    assert "1 fed-back rows held back for later data versions: feedback.max_share (0.25)" in capsys.readouterr().err


def test_a_file_that_alone_exceeds_the_cap_is_refused(root):
    params = make_project(root)  # 10 training rows, max_share 0.2: at most 2 rows
    with pytest.raises(LmforgeError, match=r"its 3 rows alone would be 23% .* over feedback.max_share \(0.2, at "
                                           r"most 2 rows\)"):
        feed_back(params, write_labels(root, ["r1", "r3", "r0"], ["negative", "negative", "positive"]), "local:me")
    assert read_feedback(params.paths.feedback).empty
    record_taken(params, "v1", FeedbackTaken(source_rows=40))  # the last ingest's count of the source rows wins
    assert feed_back(params, write_labels(root, ["r1", "r3", "r0"], ["negative"] * 2 + ["positive"]), "local:me").rows == 3


def test_labels_that_contradict_a_confident_champion_are_held_for_review(root):
    params = make_project(root, "feedback:\n  max_share: 1\n")
    # r0: champion said positive at 0.99 -> held; r1: at 0.5 -> kept; r2: champion 0.95 positive (the shadow's
    # confident "negative" is not the champion's) -> held; r3: no score -> kept; an agreeing label is never held.
    fed = feed_back(params, write_labels(root, ["r0", "r1", "r2", "r3"], ["negative"] * 4), "local:me")
    assert (fed.rows, fed.held) == (2, 2) and fed.review.parent.name == "feedback-review"
    assert read_feedback(params.paths.feedback)["request_id"].tolist() == ["r1", "r3"]
    held = pd.read_parquet(fed.review)
    assert held[["request_id", "label", "champion_output", "champion_score", "feedback_sent_by"]].values.tolist() == [
        ["r0", "negative", "positive", "0.99", "local:me"], ["r2", "negative", "positive", "0.95", "local:me"]]


def test_all_rows_held_appends_nothing_and_the_command_says_why(root, monkeypatch):
    from typer.testing import CliRunner

    from cli.app import app

    make_project(root, "feedback:\n  max_share: 1\n")
    write_labels(root, ["r0"], ["negative"])
    result = CliRunner().invoke(app, ["feedback", "--file", "labels.csv"])
    assert result.exit_code == 0, result.output
    assert "1 rows held for review (they contradict the champion at >= 0.9 confidence)" in result.output
    assert "appended" not in result.output
    result = CliRunner().invoke(app, ["feedback", "--file", write_labels(root, ["r0"], ["positive"], "ok.csv").name,
                                      "--json"])
    assert f'"sent_by": "local:{pwd.getpwuid(os.getuid()).pw_name}"' in result.output and '"held": 0' in result.output


def test_approval_is_needed_for_feedback_rows_the_champion_did_not_have(root):
    (root / "params.yaml").write_text("data:\n  source: builtin:reviews\nfeedback:\n  requires_approval: true\n")
    params = load_params("params.yaml")
    champion = {"segments": {"a": 2}}
    same, more = {"segments": {"a": 2}}, {"segments": {"a": 2, "b": 1}}
    assert not approval_needed(params, same, champion)  # the source changed, the feedback did not
    assert approval_needed(params, more, champion) and count_new_rows(more, champion) == 1
    assert approval_needed(params, same, None)  # no champion (or one the ledger never saw): all of it is new
    assert not approval_needed(params, {"segments": {}}, None)
    assert approval_needed(params, None, champion)  # a data version the ledger does not know may hold anything
    off = load_params("params.yaml", ["feedback.requires_approval=false"])
    assert not approval_needed(off, more, champion)
    assert approval_needed(load_params("params.yaml", ["promote.approval=required"]), same, champion)


def test_the_ledger_names_what_each_data_version_took(root):
    params = make_project(root)
    record_taken(params, "v1", FeedbackTaken(rows=1, source_rows=10, segments={"a": 1}))
    record_taken(params, None, FeedbackTaken(rows=2, source_rows=10, segments={"a": 1, "b": 1}))  # a DVC stage's
    assert read_taken(params, "v2") is None
    claim_taken(params, "v2")  # register, once DVC hashed the output
    assert read_taken(params, "v2")["segments"] == {"a": 1, "b": 1} and read_taken(params, "v1")["rows"] == 1
    assert read_taken(params, None)["data_version"] == "v2"


def test_the_gate_compares_with_the_champions_data_version(root, monkeypatch):
    from types import SimpleNamespace

    from tasks.promote import approval_required
    from tasks.registry import champion, tracking

    params = make_project(root, "feedback:\n  requires_approval: true\n")
    record_taken(params, "old", FeedbackTaken(segments={"a": 1}))
    record_taken(params, "new", FeedbackTaken(segments={"a": 1, "b": 3}))
    record_taken(params, "resourced", FeedbackTaken(segments={"a": 1}))
    monkeypatch.setattr(tracking, "client", lambda params: None)
    monkeypatch.setattr(champion, "current_champion",
                        lambda client, params: SimpleNamespace(tags={"data_version": "old"}))
    assert approval_required(params, "new") and not approval_required(params, "resourced")

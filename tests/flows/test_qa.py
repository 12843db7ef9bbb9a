"""params.qa.yaml end to end: a tiny encoder learns to point at the answer in the built-in facts, is promoted by
token F1, and answers through `lmforge predict`; bad qa rows stop the flow with one sentence."""

from __future__ import annotations

import json

import pytest

from tests.conftest import invoke, make_project, registry, working_in

pytestmark = [pytest.mark.flow, pytest.mark.matrix]  # every kind end to end: make test-matrix
FAST_FACTS = {
    "data": {"sample": {"rows": 2500, "seed": 5}},
    "registry": {"model_name": "test-facts"},
}
CONTEXT = "Tom went to Oslo on Friday. Anna bought 12 lamps."


@pytest.fixture(scope="module")
def answered(prefect_harness, tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("facts") / "project", FAST_FACTS, "params.qa.yaml")
    with working_in(root):
        yield root, invoke("run")


def test_tiny_model_answers_the_facts_and_is_promoted_by_f1(answered):
    root, result = answered
    assert result.exit_code == 0, result.output
    metrics = json.loads((root / "metrics/qa/eval.json").read_text())
    # A guess of the first name or number in the context scores about 25; the model reads the question.
    assert metrics["eval_exact_match"] >= 55 and metrics["eval_f1"] >= metrics["eval_exact_match"], metrics
    assert "promoted: first model" in result.output and "f1" in result.output, result.output
    assert "onnx passed" in result.output and "torch-export passed" in result.output, result.output
    low, high = json.loads((root / "metrics/qa/intervals.json").read_text())["intervals"]["eval_f1"]
    assert low <= metrics["eval_f1"] <= high, (low, metrics, high)
    version = registry(root).get_model_version_by_alias("test-facts", "champion")
    assert {"eval_exact_match", "eval_f1"} <= set(registry(root).get_run(version.run_id).data.metrics)
    promotion = json.loads((root / "data/qa/promotion.json").read_text())
    assert promotion["rule"]["primary_metric"] == "f1" and "exact_match" in promotion["metrics"]["challenger"]


def test_predict_answers_question_and_context(answered, monkeypatch):
    root, _ = answered
    monkeypatch.chdir(root)
    result = invoke("predict", f"How many lamps did Anna buy? || {CONTEXT}", f"Where did Tom go? || {CONTEXT}")
    assert result.exit_code == 0, result.output
    answers = [line.split("\t")[0] for line in result.stdout.splitlines()[-2:]]
    assert answers == ["12", "Oslo"], result.output
    # The champion's exports passed their parity check on the test answers: ONNX answers as eager PyTorch does.
    exported = invoke("predict", "--backend", "onnx", f"How many lamps did Anna buy? || {CONTEXT}",
                      f"Where did Tom go? || {CONTEXT}")
    assert exported.exit_code == 0, exported.output
    assert [line.split("\t")[0] for line in exported.stdout.splitlines()[-2:]] == answers, exported.output
    # --file reads data.question_column and data.context_column.
    (root / "questions.csv").write_text(f'question,context\nWhere did Tom go?,"{CONTEXT}"\n')
    from_file = invoke("predict", "--file", "questions.csv")
    assert from_file.exit_code == 0 and from_file.stdout.splitlines()[-1].startswith("Oslo\t"), from_file.output
    lone = invoke("predict", "How many lamps did Anna buy?")
    assert lone.exit_code == 1 and "||" in lone.output and "Traceback" not in lone.output, lone.output


@pytest.mark.parametrize("rows, expected", [
    ("context,question,answer\nTom went to Oslo.,Where did Tom go?,Paris\n" * 1, "answer_in_context"),
    ("passage,question,answer\nTom went to Oslo.,Where did Tom go?,Oslo\n", "set data.context_column"),
])
def test_bad_qa_rows_stop_with_one_sentence(answered, monkeypatch, rows, expected):
    root, _ = answered
    monkeypatch.chdir(root)
    good = "".join(f"Ann{i} went to Oslo{i}.,Where did Ann{i} go?,Oslo{i}\n" for i in range(60))
    header, *bad = rows.splitlines(keepends=True)
    (root / "data/raw/facts.csv").write_text(header + "".join(bad) + good)
    before = len(registry(root).search_model_versions("name='test-facts'"))
    result = invoke("run", "--set", "data.source=data/raw/facts.csv")
    assert result.exit_code == 1 and expected in result.output and "Traceback" not in result.output, result.output
    assert len(registry(root).search_model_versions("name='test-facts'")) == before

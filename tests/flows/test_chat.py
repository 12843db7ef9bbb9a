"""params.chat.yaml end to end: a tiny decoder learns the built-in instructions with the loss on the answers only,
beats the most common answer by far, is promoted by exact match, and answers a prompt and a follow-up through
`lmforge predict`; a conversation that is no conversation stops the flow with one sentence."""

from __future__ import annotations

import json

import pytest

from tests.conftest import invoke, make_project, registry, working_in

pytestmark = [pytest.mark.flow, pytest.mark.matrix]  # every kind end to end: make test-matrix
FAST_CHAT = {"registry": {"model_name": "test-chat"}}


@pytest.fixture(scope="module")
def tuned(prefect_harness, tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("chat") / "project", FAST_CHAT, "params.chat.yaml")
    with working_in(root):
        yield root, invoke("run")


def test_a_tiny_decoder_learns_the_instructions_and_is_promoted_by_exact_match(tuned):
    root, result = tuned
    assert result.exit_code == 0, result.output
    metrics = json.loads((root / "metrics/eval.json").read_text())
    assert metrics["eval_exact_match"] >= 60 and metrics["eval_chrf"] >= 70, metrics
    promotion = json.loads((root / "data/promotion.json").read_text())
    assert promotion["verdict"] == "promoted" and promotion["rule"]["primary_metric"] == "exact_match", promotion
    # promote asks the registered model the test prompts as evaluate did: the same answers, the same scores.
    for name in ("exact_match", "rougeL", "chrf"):
        assert promotion["metrics"]["challenger"][name] == pytest.approx(metrics[f"eval_{name}"], abs=1e-3), name
    baseline = promotion["baseline"]
    assert "most common training answer" in baseline["name"] and baseline["beaten"], baseline
    assert baseline["metrics"]["exact_match"] < 15, baseline
    samples = json.loads((root / "metrics/samples.json").read_text())
    assert samples and {"prompt", "answer", "reference"} <= set(samples[0]), samples[:1]
    encoding = json.loads((root / "data/tokenized/encoding.json").read_text())
    assert "<|im_start|>" in encoding["chat_template"], encoding


def test_predict_answers_a_prompt_and_a_follow_up(tuned, monkeypatch):
    root, _ = tuned
    monkeypatch.chdir(root)
    follow_up = json.dumps([{"role": "user", "content": "which day comes after friday?"},
                            {"role": "assistant", "content": "saturday"},
                            {"role": "user", "content": "and the day after that?"}])
    result = invoke("predict", "which day comes after monday?", follow_up, "--json")
    assert result.exit_code == 0, result.output
    answers = [row["output"] for row in json.loads(result.stdout)["predictions"]]
    assert answers == ["tuesday", "sunday"], answers


def test_a_conversation_without_an_answer_stops_the_flow_with_one_sentence(tuned, monkeypatch):
    root, _ = tuned
    monkeypatch.chdir(root)
    good = [[{"role": "user", "content": f"what is {i} plus 1?"}, {"role": "assistant", "content": str(i + 1)}]
            for i in range(200)]
    bad = [[{"role": "user", "content": "is anyone there?"}]]
    rows = [{"messages": turns} for turns in bad + good]
    (root / "data/raw/talk.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    before = len(registry(root).search_model_versions("name='test-chat'"))
    result = invoke("run", "--set", "data.source=data/raw/talk.jsonl")
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "1 of" in result.output and "has no assistant turn" in result.output, result.output
    assert "validate.policies.conversation: drop" in result.output, result.output
    assert len(registry(root).search_model_versions("name='test-chat'")) == before

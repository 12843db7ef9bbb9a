"""params.causal_lm.yaml end to end: a tiny GPT-2 learns the built-in stories far better than a unigram model, is
promoted by word perplexity (lower is better), and continues a prompt through `lmforge predict`; bad texts stop the flow."""

from __future__ import annotations

import json

import pytest

from tests.conftest import invoke, make_project, registry, working_in

pytestmark = [pytest.mark.flow, pytest.mark.matrix]  # every kind end to end: make test-matrix
FAST_STORIES = {
    "data": {"sample": {"rows": 1200, "seed": 5}},
    "registry": {"model_name": "test-stories"},
}


@pytest.fixture(scope="module")
def modelled(prefect_harness, tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("stories") / "project", FAST_STORIES, "params.causal_lm.yaml")
    with working_in(root):
        yield root, invoke("run")


def test_tiny_gpt_beats_unigram_and_is_promoted_by_perplexity(modelled):
    root, result = modelled
    assert result.exit_code == 0, result.output
    metrics = json.loads((root / "metrics/causal_lm/eval.json").read_text())
    assert metrics["eval_perplexity"] < metrics["eval_unigram_perplexity"] / 5, metrics
    assert metrics["eval_perplexity"] < 5 and metrics["eval_val_perplexity"] < 5, metrics
    promotion = json.loads((root / "data/causal_lm/promotion.json").read_text())
    assert promotion["verdict"] == "promoted" and promotion["rule"]["primary_metric"] == "word_perplexity", promotion
    # promote scores the registered model on the test texts as evaluate does: the same perplexities.
    for name in ("perplexity", "word_perplexity"):
        assert promotion["metrics"]["challenger"][name] == pytest.approx(metrics[f"eval_{name}"], rel=1e-3), name
    assert metrics["eval_word_perplexity"] > metrics["eval_perplexity"], "a word is one token or more"
    # The gate's unigram baseline is evaluate's, on the same tokens, and the model beats it by word perplexity.
    baseline = promotion["baseline"]
    assert baseline["metrics"]["perplexity"] == pytest.approx(metrics["eval_unigram_perplexity"], rel=1e-4), baseline
    assert baseline["beaten"] and "beats the baseline (a unigram model" in promotion["reasons"][-1], promotion
    intervals = json.loads((root / "metrics/causal_lm/intervals.json").read_text())
    assert intervals["intervals"] == {} and "probabilities" in intervals["missing"], intervals
    samples = json.loads((root / "metrics/causal_lm/samples.json").read_text())
    assert samples and {"prompt", "greedy", "sampled"} <= set(samples[0]), samples[:1]
    version = registry(root).get_model_version_by_alias("test-stories", "champion")
    assert "eval_perplexity" in registry(root).get_run(version.run_id).data.metrics


def test_a_worse_challenger_is_rejected_by_perplexity(modelled, monkeypatch):
    root, _ = modelled
    monkeypatch.chdir(root)
    result = invoke("run", "--force", "--set", "train.max_steps=3")
    assert result.exit_code == 0, result.output
    promotion = json.loads((root / "data/causal_lm/promotion.json").read_text())
    assert promotion["verdict"] == "rejected" and "word_perplexity" in promotion["reasons"][0], promotion
    assert promotion["metrics"]["challenger"]["word_perplexity"] > promotion["metrics"]["champion"]["word_perplexity"]


def test_predict_continues_a_prompt(modelled, monkeypatch):
    root, _ = modelled
    monkeypatch.chdir(root)
    result = invoke("predict", "on monday mia went")
    assert result.exit_code == 0, result.output
    continuation = result.stdout.splitlines()[-1].split("\t")[0]
    assert len(continuation.split()) >= 2, result.output


def test_the_champion_is_exported_and_predicts_from_onnx_as_eager(modelled, monkeypatch):
    root, _ = modelled
    monkeypatch.chdir(root)
    version = registry(root).get_model_version_by_alias("test-stories", "champion")
    assert version.tags["export_onnx"].startswith("passed: greedy continuations identical"), version.tags
    prompts = ["on monday mia went", "tom had five", "every friday pip the"]
    found = {}
    for backend in ("eager", "onnx"):
        result = invoke("predict", *prompts, "--backend", backend, "--json")
        assert result.exit_code == 0, result.output
        found[backend] = [row["output"] for row in json.loads(result.stdout)["predictions"]]
    assert found["onnx"] == found["eager"] and all(found["onnx"]), found


@pytest.mark.parametrize("rows, expected", [
    ("text\n   \n", "rows have no text"),  # the CSV reader reads a text of spaces as missing
    ("story\nmia had five pears.\n", "set data.text_column"),
])
def test_bad_texts_stop_with_one_sentence(modelled, monkeypatch, rows, expected):
    root, _ = modelled
    monkeypatch.chdir(root)
    header, *bad = rows.splitlines(keepends=True)
    good = "".join(f"mia had {i} pears and gave {i} to tom.\n" for i in range(60))
    (root / "data/raw/stories.csv").write_text(header + "".join(f'"{line.rstrip()}"\n' for line in bad) + good)
    before = len(registry(root).search_model_versions("name='test-stories'"))
    result = invoke("run", "--set", "data.source=data/raw/stories.csv")
    assert result.exit_code == 1 and expected in result.output and "Traceback" not in result.output, result.output
    assert len(registry(root).search_model_versions("name='test-stories'")) == before


def test_monitor_tests_the_models_own_loss_on_what_it_wrote(modelled, monkeypatch):
    root, _ = modelled
    monkeypatch.chdir(root)
    prompts = [f"on {day} {name} went" for day in ("monday", "tuesday", "friday") for name in ("mia", "tom", "ana")]
    where = "paths.inference_log=data/inference-monitor"  # only these prompts: other tests predict too
    assert invoke("predict", *prompts, "--set", where).exit_code == 0
    result = invoke("monitor", "--json", "--set", where)
    report = json.loads(result.stdout)
    assert result.exit_code == (3 if report["drift"] else 0), result.output
    assert report["rows"] == len(prompts) and "output_loss_ks" in report["tests"], report
    # Prompts like the test split's (compared with the prompts evaluate makes of it, not with whole stories): quiet.
    assert not report["tests"]["output_loss_ks"]["drift"], report["tests"]
    assert report["tests"]["output_loss_ks"]["window_rows"] == len(prompts), report
    # The alarm, not only the quiet: prompts of strings no story holds make the model unsure of what it writes, and
    # the test on its own loss says so.
    noise = [f"{word} {number} {word[::-1]}" for word in ("xqzv", "plorf", "gnarb", "zzyq", "vortl", "krimp")
             for number in (7, 31, 404, 9001, 55)]
    shifted = "paths.inference_log=data/inference-noise"
    assert invoke("predict", *noise, "--set", shifted).exit_code == 0
    alarmed = invoke("monitor", "--json", "--set", shifted)
    alarm = json.loads(alarmed.stdout)
    assert alarm["tests"]["output_loss_ks"]["p_value"] < 0.01 and alarm["tests"]["output_loss_ks"]["drift"], alarm
    assert alarmed.exit_code == 3 and alarm["drift"], alarm


def test_the_openai_client_gets_continuations_from_lmforge_serve(modelled, monkeypatch):
    """A causal_lm champion answers OpenAI's routes too: /v1/completions continues the prompt as predict does
    (greedy), streamed piece by piece or whole; /v1/chat/completions continues the turns' contents."""
    import openai

    from tests.serving import serving

    root, _ = modelled
    monkeypatch.chdir(root)
    predicted = invoke("predict", "--json", "mia had five")
    expected = json.loads(predicted.stdout)["predictions"][0]["output"]
    with serving() as send:
        client = openai.OpenAI(base_url=f"{send.base_url}/v1", api_key="unused", max_retries=0)
        whole = client.completions.create(model="test-stories", prompt="mia had five", max_tokens=16, temperature=0)
        assert whole.choices[0].text and expected.startswith(whole.choices[0].text.strip()), (whole, expected)
        pieces = [chunk.choices[0].text for chunk in client.completions.create(
            model="test-stories", prompt="mia had five", max_tokens=16, temperature=0, stream=True) if chunk.choices]
        assert len(pieces) >= 2 and "".join(pieces) == whole.choices[0].text, (pieces, whole)
        chat = client.chat.completions.create(model="test-stories", temperature=0, max_tokens=8,
                                              messages=[{"role": "user", "content": "mia had five"}])
        assert chat.choices[0].message.content and chat.usage.completion_tokens <= 8, chat

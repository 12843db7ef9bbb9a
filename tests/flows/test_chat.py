"""params.chat.yaml end to end: a tiny decoder learns the built-in instructions with the loss on the answers only,
beats the most common answer by far, is promoted by exact match, and answers a prompt and a follow-up through
`lmforge predict`; a conversation that is no conversation stops the flow with one sentence."""

from __future__ import annotations

import json
from pathlib import Path

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


def test_the_openai_client_talks_to_lmforge_serve(tuned, monkeypatch):
    """The official client, pointed at a real `lmforge serve` by base_url: chat, streamed chat, completions, models,
    and a refusal it raises as OpenAI's own error."""
    import openai

    from tests.serving import serving

    root, _ = tuned
    monkeypatch.chdir(root)
    with serving() as send:
        client = openai.OpenAI(base_url=f"{send.base_url}/v1", api_key="unused", max_retries=0)
        [model] = client.models.list().data
        assert model.id == "test-chat", model
        asked = [{"role": "user", "content": "which day comes after monday?"}]
        chat = client.chat.completions.create(model="test-chat", messages=asked, temperature=0, max_tokens=8)
        assert chat.choices[0].message.content == "tuesday" and chat.choices[0].finish_reason == "stop", chat
        assert chat.usage.prompt_tokens > 5 and chat.usage.completion_tokens >= 1, chat.usage
        stream = client.chat.completions.create(model="test-chat", messages=asked, temperature=0, stream=True)
        assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices) == "tuesday"
        # Streamed as it is written: a longer answer comes in several pieces, which make the greedy answer.
        longer = [{"role": "user", "content": "reverse these words: red blue green"}]
        whole = client.chat.completions.create(model="test-chat", messages=longer, temperature=0).choices[0]
        pieces = [chunk.choices[0].delta.content for chunk in client.chat.completions.create(
            model="test-chat", messages=longer, temperature=0, stream=True,
            stream_options={"include_usage": True}) if chunk.choices and chunk.choices[0].delta.content]
        assert len(pieces) >= 2 and "".join(pieces) == whole.message.content, (pieces, whole)
        stopped = client.chat.completions.create(model="test-chat", messages=longer, temperature=0, stream=True,
                                                 stop=[" "])
        assert "".join(chunk.choices[0].delta.content or "" for chunk in stopped if chunk.choices) == \
            whole.message.content.split(" ")[0]
        sampled = [client.chat.completions.create(model="test-chat", messages=asked, seed=5, temperature=1.5)
                   .choices[0].message.content for _ in range(2)]
        assert sampled[0] == sampled[1], sampled  # seeded: the same draw twice
        cut = client.chat.completions.create(model="test-chat", messages=asked, temperature=0, max_tokens=1)
        assert cut.choices[0].finish_reason == "length" and cut.usage.completion_tokens == 1, cut
        text = client.completions.create(model="test-chat", prompt=["<|im_start|>user\nwhat does a cow do?"],
                                         max_tokens=4, temperature=0)
        assert len(text.choices) == 1 and text.usage.completion_tokens <= 4, text
        with pytest.raises(openai.BadRequestError, match="over this server's limit"):
            client.chat.completions.create(model="test-chat", messages=asked, max_tokens=100000)
        status, body = send(b'{"messages": [', "/v1/chat/completions")
        assert status == 400 and "not JSON" in body["error"]["message"], body
    # What the champion answered through OpenAI's routes is in the inference log, as /invocations answers are: the
    # conversation as the JSON of its turns, the answer, its tokens and the time to its first token.
    from tasks.data.inference_log import read_log

    logged = read_log(root / "data/inference")
    generated = logged[logged["completion_tokens"].notna()]
    assert len(generated) >= 6 and (generated["output"] == "tuesday").any(), generated
    asked = generated["input"].str.contains('"content": "which day comes after monday?"', regex=False)
    assert asked.any(), generated["input"]
    assert (generated["prompt_tokens"] > 5).all() and (generated["ttft_ms"] > 0).all(), generated


def test_lora_adapters_register_alone_and_serve_as_champion_and_canary_on_one_base(tuned, monkeypatch):
    """LoRA on the model just tuned: an adapter that does not beat its own base is not promoted; each version's
    artifact is the adapter alone with its base named; two adapters answer OpenAI's routes from one server, the
    champion and a canary, and the champion's chat requests are shadowed by the other."""
    import shutil

    import openai

    from tasks.data.inference_log import read_log
    from tests.serving import serving, wait_for_challenger

    root, _ = tuned
    monkeypatch.chdir(root)
    base = root / "data/chat-base"
    shutil.copytree(root / "data/model", base)
    lora = ["--set", f"model.pretrained={base}", "--set", "train.lora={r: 4, alpha: 8}", "--set",
            "registry.model_name=test-chat-lora", "--set", "train.epochs=2"]
    idle = invoke("run", *lora, "--set", "train.learning_rate=1e-9")  # the adapter barely moves: base's answers
    assert idle.exit_code == 0, idle.output
    decision = json.loads((root / "data/promotion.json").read_text())
    assert decision["verdict"] != "promoted" and not decision["baseline"]["beaten"], decision["baseline"]
    assert "the untuned base model" in decision["baseline"]["reason"], decision["baseline"]
    tuned_run = invoke("run", *lora, "--set", "train.learning_rate=0.002")
    assert tuned_run.exit_code == 0, tuned_run.output
    client = registry(root)
    versions = {str(v.version): v for v in client.search_model_versions("name='test-chat-lora'")}
    assert sorted(versions) == ["1", "2"], versions
    for version in versions.values():
        assert version.tags["lora_base"].startswith(f"{base.resolve()} (weights sha256 "), version.tags
        files = {path.name for path in registered_files(version, root / f"registered-{version.version}")}
        assert "adapter_model.safetensors" in files and "model.safetensors" not in files, files
    # Version 2 as champion the way lmforge records it (serve refuses an alias moved without a record), unless the
    # gate made it so already; version 1 (registered after validation, as every challenger is) as challenger.
    promoted = invoke("promote", "2", "--reason", "canary test", "--set", "registry.model_name=test-chat-lora")
    assert promoted.exit_code == 0 or "already @champion" in promoted.output, promoted.output
    client.set_registered_model_alias("test-chat-lora", "challenger", "1")
    serve = ["--set", "registry.model_name=test-chat-lora", "--set", "serve.canary.share=0.5", "--set",
             "serve.canary.trust_client_key=true", "--set", "serve.shadow=true", "--set", "serve.refresh_s=0.5",
             "--set", "paths.inference_log=data/inference-lora"]
    asked = [{"role": "user", "content": "which day comes after monday?"}]
    with serving(*serve) as send:
        wait_for_challenger(send, "1")
        routes = {}
        for key in range(12):
            talk = openai.OpenAI(base_url=f"{send.base_url}/v1", api_key="unused", max_retries=0,
                                 default_headers={"X-Canary-Key": f"caller-{key}"})
            reply = talk.chat.completions.with_raw_response.create(model="test-chat-lora", messages=asked,
                                                                    temperature=0)
            routes[reply.headers["X-Route"]] = reply.headers["X-Model-Version"]
            assert reply.parse().choices[0].message.content, reply
        assert routes == {"champion": "2", "canary": "1"}, routes
    logged = read_log(root / "data/inference-lora")
    assert {"champion", "canary", "shadow"} <= set(logged["role"]), logged["role"].value_counts()
    assert set(logged[logged["role"] == "shadow"]["model_version"]) == {"1"}


def registered_files(version, into: Path) -> list[Path]:
    """The files of a registered version's model folder, as a server downloads them."""
    import mlflow

    mlflow.artifacts.download_artifacts(version.source, dst_path=str(into))
    return list((into / "artifacts" / "model").iterdir())


def test_monitor_reads_the_prompts_embeddings_and_the_answers_length_and_loss(tuned, monkeypatch):
    """Requests like the held-out conversations (sent as prompts or as JSON turns: the monitor reads both as turns)
    are quiet; prompts of strings no instruction holds move the prompts' embeddings and the answers' length and loss."""
    from tasks.kinds.chat.builtin import generate_conversations
    from tasks.kinds.chat.conversations import as_request, prompt_turns

    root, _ = tuned
    monkeypatch.chdir(root)
    turns = [prompt_turns(value) for value in generate_conversations(40, 999)["messages"]]
    like = [as_request(asked) if i % 2 or len(asked) > 1 else asked[0]["content"] for i, asked in enumerate(turns)]
    noise = [f"{word} {number} {word[::-1]}" for word in ("xqzv", "plorf", "gnarb", "zzyq", "vortl", "krimp")
             for number in (7, 31, 404, 9001, 55, 12)]
    reports = {}
    for name, prompts in (("like", like), ("noise", noise)):
        where = f"paths.inference_log=data/inference-{name}"
        assert invoke("predict", *prompts, "--set", where).exit_code == 0
        result = invoke("monitor", "--json", "--set", where)
        reports[name] = json.loads(result.stdout)
        assert result.exit_code == (3 if reports[name]["drift"] else 0), result.output
    tests = ("input_embedding_mmd", "output_length_ks", "output_loss_ks")
    assert not any(reports["like"]["tests"][name]["drift"] for name in tests), reports["like"]["tests"]
    assert all(reports["noise"]["tests"][name]["drift"] for name in tests), reports["noise"]["tests"]

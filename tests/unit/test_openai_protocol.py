"""OpenAI's requests as lmforge serve reads them, and its answers as OpenAI's clients parse them."""

from __future__ import annotations

import json

import pytest

from tasks.core.config import ServeParams
from tasks.servers.openai_protocol import (OpenAIError, apply_stop, chat_chunk, chat_response, completion_response,
                                           error_body, finish_reason, read_request, usage)

SERVE = ServeParams(max_new_tokens=64)


def body(**fields) -> bytes:
    return json.dumps(fields).encode()


def test_a_chat_request_reads_as_openai_defines_it():
    found = read_request(body(model="lmforge-chat", messages=[{"role": "user", "content": "hi"}], max_tokens=8,
                              temperature=0, stop="\n", seed=3, stream=True,
                              stream_options={"include_usage": True}), True, SERVE)
    assert found.prompts == [[{"role": "user", "content": "hi"}]]
    assert (found.max_new_tokens, found.temperature, found.top_p, found.stop, found.seed) == (8, 0, 1.0, ("\n",), 3)
    assert found.stream and found.usage_in_stream
    # OpenAI's defaults: sampled at temperature 1; a chat answer may use the server's whole limit.
    plain = read_request(body(messages=[{"role": "user", "content": "hi"}]), True, SERVE)
    assert (plain.temperature, plain.max_new_tokens, plain.stream) == (1.0, 64, False)
    assert read_request(body(messages=[{"role": "user", "content": "hi"}], max_completion_tokens=5), True,
                        SERVE).max_new_tokens == 5


def test_a_completion_takes_one_prompt_or_several_and_sixteen_tokens_by_default():
    assert read_request(body(prompt="once"), False, SERVE).prompts == ["once"]
    several = read_request(body(prompt=["a", "b"], max_tokens=4), False, SERVE)
    assert several.prompts == ["a", "b"] and several.max_new_tokens == 4
    assert read_request(body(prompt="once"), False, SERVE).max_new_tokens == 16


@pytest.mark.parametrize(("fields", "chat", "param", "says"), [
    ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 65}, True, "max_tokens",
     "max_tokens 65 is over this server's limit of 64 (serve.max_new_tokens)"),
    ({"messages": [{"role": "user", "content": "hi"}], "logit_bias": {"1": 2}}, True, "logit_bias",
     "logit_bias is not a parameter this server accepts"),
    ({"messages": [{"role": "user", "content": "hi"}], "n": 2}, True, "n", "n: Input should be 1"),
    ({"messages": []}, True, "messages", "messages: List should have at least 1 item"),
    ({"messages": [{"role": "robot", "content": "hi"}]}, True, "messages.0.role", "messages.0.role: Input should be"),
    ({"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}, False, "stop", "stop takes at most 4 sequences"),
    ({"prompt": "x", "temperature": 3}, False, "temperature", "temperature: Input should be less than or equal to 2"),
    ({"prompt": []}, False, "prompt", "prompt is empty"),
])
def test_a_request_openai_would_refuse_is_named(fields, chat, param, says):
    with pytest.raises(OpenAIError) as caught:
        read_request(body(**fields), chat, SERVE)
    assert str(caught.value).startswith(says) and caught.value.param == param, str(caught.value)
    assert error_body(caught.value)["error"]["type"] == "invalid_request_error"


def test_malformed_json_is_a_refusal_not_a_crash():
    with pytest.raises(OpenAIError, match="the body is not JSON"):
        read_request(b'{"messages": [', True, SERVE)
    with pytest.raises(OpenAIError, match="messages.0: Input should be a valid dictionary"):
        read_request(body(messages=[["user", "hi"]]), True, SERVE)


def test_stop_sequences_cut_the_answer_and_say_why_it_ended():
    assert apply_stop("tuesday\nwednesday", ("\n",)) == ("tuesday", True)
    assert apply_stop("tuesday", ("x", "")) == ("tuesday", False)
    assert apply_stop("a, b; c", (";", ",")) == ("a", True)  # the first in the text, whichever is listed first
    assert finish_reason(False, 8, 8) == "length" and finish_reason(False, 3, 8) == "stop"
    assert finish_reason(True, 8, 8) == "stop"


def test_the_answers_have_the_shapes_openais_clients_parse():
    from openai.types import Completion
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    counted = usage(12, 3)
    assert counted["total_tokens"] == 15
    chat = ChatCompletion.model_validate(chat_response("r1", "lmforge-chat/2", "tuesday", "stop", counted))
    assert chat.choices[0].message.content == "tuesday" and chat.usage.completion_tokens == 3
    text = Completion.model_validate(completion_response("r2", "m/1", [("a", "stop"), ("b", "length")], counted))
    assert [choice.text for choice in text.choices] == ["a", "b"]
    chunk = chat_chunk("r3", "m/1", {"content": "tue"}, None, 0)
    assert chunk.startswith("data: ") and chunk.endswith("\n\n")
    assert ChatCompletionChunk.model_validate_json(chunk.removeprefix("data: ")).choices[0].delta.content == "tue"

"""What `lmforge serve` reads before a model sees anything: a body over its cap refused from its length or while it
streams in, every malformed or misshapen body one sentence and a 4xx (never an error inside the model)."""

from __future__ import annotations

import asyncio
import json

import pytest

from tasks.core.config import Params
from tasks.servers.openai_protocol import OpenAIError, read_request
from tasks.servers.serving_requests import BadRequest, read_body, read_texts

PARAMS = Params()


class Streamed:
    """A request as Starlette gives it: headers and the body in chunks; counts what was read."""

    def __init__(self, chunks: list[bytes], length: int | None):
        self.headers = {} if length is None else {"content-length": str(length)}
        self.chunks, self.read = chunks, 0

    async def stream(self):
        for chunk in self.chunks:
            self.read += len(chunk)
            yield chunk


def test_a_body_over_the_cap_is_refused_before_or_while_it_is_read():
    big = Streamed([b"x" * 1000] * 1000, 10**9)  # says a gigabyte: nothing read
    with pytest.raises(BadRequest, match="serve.max_body_bytes") as refused:
        asyncio.run(read_body(big, 4096))
    assert refused.value.status == 413 and big.read == 0
    unsaid = Streamed([b"x" * 1000] * 1000, None)  # no length (or a false one): stopped at the first chunk past it
    with pytest.raises(BadRequest, match="while it was read"):
        asyncio.run(read_body(unsaid, 4096))
    assert unsaid.read <= 5000
    assert asyncio.run(read_body(Streamed([b'{"inputs": ', b'["a"]}'], 17), 4096)) == b'{"inputs": ["a"]}'


@pytest.mark.parametrize("body, says", [
    (b"\xff\xfe", "not UTF-8"),
    (b'{"inputs": [', "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deep"),
    (b'{"dataframe_split": [1, 2]}', "shape of MLflow's scoring formats"),
    (b'{"dataframe_split": {"columns": [{"a": 1}], "data": [[1]]}}', "shape of MLflow's scoring formats"),
    (b'{"dataframe_split": {"columns": ["text"], "data": [[]]}}', "shape of MLflow's scoring formats"),
    (b'{"dataframe_records": [{"text": "a"}, 7]}', "every text must be a JSON string"),
    (b'{"inputs": {"text": 5}}', "every text must be a JSON string"),
    (b'{"inputs": ["fine", "\\ud800"]}', "text 1 holds a lone surrogate"),
    (b'["fine"]', "must be an object"),
])
def test_every_malformed_body_is_one_sentence_and_a_400(body, says):
    with pytest.raises(BadRequest, match=says) as refused:
        read_texts(body, PARAMS)
    assert refused.value.status == 400 and "\n" not in str(refused.value)


def test_openai_requests_nested_too_deep_or_with_half_a_character_are_refused():
    with pytest.raises(OpenAIError, match="nested too deep"):
        read_request(b"[" * 100_000 + b"]" * 100_000, True, PARAMS.serve)
    asked = json.dumps({"messages": [{"role": "user", "content": "\ud800"}]}).encode()
    with pytest.raises(OpenAIError, match="lone surrogate") as refused:
        read_request(asked, True, PARAMS.serve)
    assert refused.value.param == "messages"

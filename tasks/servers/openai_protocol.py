"""OpenAI's API as `lmforge serve` speaks it for chat and causal_lm models: the requests of `/v1/chat/completions` and
`/v1/completions` read and checked, and the answers written as OpenAI's clients parse them (a whole response, or
server-sent events when `stream` is set). Pure: no model, no server.

Defaults are OpenAI's (temperature 1 and top_p 1: sampled; max_tokens 16 for a completion, the server's
serve.max_new_tokens for a chat answer). A field OpenAI defines that lmforge does not implement is refused unless it
holds OpenAI's default (n: 1, a penalty of 0), and a field OpenAI does not define is refused too, each with a 400
that names it: a client must not believe a setting took effect when it did not.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tasks.core.config import ServeParams

COMPLETION_DEFAULT_TOKENS = 16  # OpenAI's max_tokens default for /v1/completions


class OpenAIError(ValueError):
    """A request OpenAI's API would refuse: its message, and the parameter it is about."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Message(Strict):
    role: Literal["system", "user", "assistant", "developer"]
    content: str
    name: str | None = None


class Sampling(Strict):
    model: str | None = None
    max_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: dict[str, bool] | None = None
    n: Literal[1] = 1
    presence_penalty: Literal[0] = 0
    frequency_penalty: Literal[0] = 0
    user: str | None = None  # OpenAI's end-user id: accepted, as clients send it


class ChatRequest(Sampling):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)  # OpenAI's newer name for max_tokens


class CompletionRequest(Sampling):
    prompt: str | list[str]


@dataclass(frozen=True)
class Generation:
    """What one request asks of the model: its prompts (turns, or texts) and how to write the answers."""
    prompts: list
    max_new_tokens: int
    temperature: float
    top_p: float
    stop: tuple[str, ...]
    seed: int | None
    stream: bool
    usage_in_stream: bool


def read_request(body: bytes, chat: bool, serve: ServeParams) -> Generation:
    """The request body as a Generation, or OpenAIError naming what is wrong (malformed JSON, an unknown or
    unsupported field, a limit passed)."""
    try:
        raw = json.loads(body)
    except RecursionError:
        raise OpenAIError("the body's JSON is nested too deep to read") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise OpenAIError(f"the body is not JSON ({error})") from None
    try:
        request = (ChatRequest if chat else CompletionRequest).model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        param = ".".join(str(part) for part in first["loc"])
        if first["type"] == "extra_forbidden":
            raise OpenAIError(f"{param} is not a parameter this server accepts", param) from None
        raise OpenAIError(f"{param}: {first['msg'].removeprefix('Value error, ')}", param) from None
    wanted = (request.max_completion_tokens or request.max_tokens) if chat else request.max_tokens
    tokens = wanted or (serve.max_new_tokens if chat else min(COMPLETION_DEFAULT_TOKENS, serve.max_new_tokens))
    if tokens > serve.max_new_tokens:
        raise OpenAIError(f"max_tokens {tokens} is over this server's limit of {serve.max_new_tokens} "
                          "(serve.max_new_tokens)", "max_tokens")
    stops = (request.stop,) if isinstance(request.stop, str) else tuple(request.stop or ())
    if len(stops) > 4:
        raise OpenAIError("stop takes at most 4 sequences", "stop")
    prompts = [[message.model_dump(exclude={"name"}) for message in request.messages]] if chat else (
        [request.prompt] if isinstance(request.prompt, str) else list(request.prompt))
    if not prompts:
        raise OpenAIError("prompt is empty", "prompt")
    for text in (turn["content"] if isinstance(turn, dict) else turn for prompt in prompts
                 for turn in (prompt if isinstance(prompt, list) else [prompt])):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate JSON lets through: no tokenizer can read it
            raise OpenAIError("a text holds a lone surrogate (a \\u escape of half a character); send whole "
                              "characters", "messages" if chat else "prompt") from None
    return Generation(prompts, tokens, request.temperature, request.top_p, stops, request.seed, request.stream,
                      bool((request.stream_options or {}).get("include_usage")))


def apply_stop(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """The text cut before the first stop sequence in it, and whether one was found."""
    cut = min((text.index(stop) for stop in stops if stop and stop in text), default=None)
    return (text, False) if cut is None else (text[:cut], True)


def finish_reason(stopped: bool, tokens: int, limit: int) -> str:
    """OpenAI's: "stop" when the model ended its answer (or a stop sequence did), "length" when max_tokens did."""
    return "stop" if stopped or tokens < limit else "length"


def usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def chat_response(request_id: str, model: str, answer: str, reason: str, counted: dict) -> dict:
    return {"id": f"chatcmpl-{request_id}", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": reason}],
            "usage": counted}


def completion_response(request_id: str, model: str, answers: list[tuple[str, str]], counted: dict) -> dict:
    return {"id": f"cmpl-{request_id}", "object": "text_completion", "created": int(time.time()), "model": model,
            "choices": [{"index": i, "text": text, "logprobs": None, "finish_reason": reason}
                        for i, (text, reason) in enumerate(answers)], "usage": counted}


def event(payload: dict | str) -> str:
    """One server-sent event as OpenAI streams them: `data: JSON`, a blank line; `data: [DONE]` at the end."""
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)}\n\n"


def chat_chunk(request_id: str, model: str, delta: dict, reason: str | None, created: int) -> str:
    return event({"id": f"chatcmpl-{request_id}", "object": "chat.completion.chunk", "created": created,
                  "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": reason}]})


def completion_chunk(request_id: str, model: str, text: str, reason: str | None, created: int) -> str:
    return event({"id": f"cmpl-{request_id}", "object": "text_completion", "created": created, "model": model,
                  "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": reason}]})


def error_body(error: OpenAIError) -> dict:
    return {"error": {"message": str(error), "type": "invalid_request_error", "param": error.param, "code": None}}


def models_list(model: str, version: str) -> dict:
    """`GET /v1/models`: the one model served, its name and registry version."""
    return {"object": "list", "data": [{"id": model, "object": "model", "created": 0, "owned_by": "lmforge",
                                        "version": version}]}

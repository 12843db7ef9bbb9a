"""OpenAI's routes on `lmforge serve`: `GET /v1/models`, `POST /v1/chat/completions`, `POST /v1/completions`, beside
MLflow's `/invocations`, answered by the version the router picks (the champion, or the challenger as a canary for
its sticky share of callers) when its python model writes answers (tasks/decoders/serving.py: chat and causal_lm).

The requests are read and the answers written by tasks/servers/openai_protocol.py. Answers are written by the
version's continuous batcher, so concurrent requests share its steps; `stream: true` sends each piece as it is
written, as server-sent events in OpenAI's chunk format. A client that goes away mid-stream ends its answer: its row
leaves the batch at the next step. With serve.shadow on, the challenger answers the champion's chat requests aside
(its rows in the inference log under the same request id).
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' `request: Request` annotation at run time.
import json
import time

from tasks.core.config import Params
from tasks.core.errors import LmforgeError


def add_openai_routes(app, params: Params, router, answer) -> None:
    """`router`: the server's tasks.servers.router.Router; `answer(status, body, version, route)`: the server's JSON
    response, with its X-Model-Version and X-Route headers."""
    from fastapi import Request
    from fastapi.responses import StreamingResponse
    from starlette.concurrency import run_in_threadpool as run_in_thread

    from tasks.data.inference_log import make_rows, new_request_ids
    from tasks.servers.serving_requests import BadRequest, canary_key, read_body
    from tasks.servers.openai_protocol import (OpenAIError, chat_chunk, chat_response, completion_chunk,
                                               completion_response, error_body, event, models_list, read_request,
                                               usage)
    from tasks.servers.traffic import CHAMPION

    name = params.registry.model_name

    def unavailable(error: Exception):
        return answer(503, {"error": {"message": str(error), "type": "server_error"}})

    @app.get("/v1/models")
    async def models():
        try:
            served = await run_in_thread(router.champion.get)
        except LmforgeError as error:
            return unavailable(error)
        return answer(200, models_list(name, served.version), served.version)

    async def generate(request: Request, chat: bool):
        started = time.perf_counter()
        try:
            body = await read_body(request, params.serve.max_body_bytes)
            generation = await run_in_thread(read_request, body, chat, params.serve)
        except BadRequest as error:  # over serve.max_body_bytes: refused before the rest is read
            return answer(error.status, error_body(OpenAIError(str(error))))
        except OpenAIError as error:
            return answer(400, error_body(error))
        try:
            sides = await run_in_thread(router.route, canary_key(request, params.serve.canary))
        except LmforgeError as error:
            return unavailable(error)
        served, role = sides.answering, sides.role
        if not hasattr(served.model, "complete"):
            refusal = OpenAIError(f"version {served.version} of {name} does not write text, so it has no OpenAI "
                                  "routes (a chat or causal_lm model has); send its requests to /invocations",
                                  "stream" if generation.stream else None)
            return answer(400, error_body(refusal), served.version, role)
        if generation.stream:
            return await stream_answer(served, generation, chat, sides, started)
        try:
            answers = await run_in_thread(served.model.complete, generation.prompts, generation, params.serve)
        except OpenAIError as error:
            return answer(400, error_body(error), served.version, role)
        except Exception as error:  # noqa: BLE001 - one request's failure, counted for the canary's judgement
            router.count(sides, 1000 * (time.perf_counter() - started), True)
            return answer(500, {"error": {"message": f"version {served.version} failed on this request "
                                                     f"({str(error)[:200]})", "type": "server_error"}},
                          served.version, role)
        request_id = new_request_ids(1)[0]
        record(generation, answers, request_id, sides, started)
        counted = usage(sum(row["prompt_tokens"] for row in answers), sum(row["completion_tokens"] for row in answers))
        body = chat_response(request_id, name, answers[0]["text"], answers[0]["finish_reason"], counted) if chat else \
            completion_response(request_id, name, [(row["text"], row["finish_reason"]) for row in answers], counted)
        return answer(200, body, served.version, role)

    def record(generation, answers: list[dict], request_id: str, sides, started: float) -> None:
        """The request counted for a live canary; its inference-log rows (one per prompt, sharing its id): the prompt
        as a client sent it (a conversation as the JSON of its turns), the answer, its tokens, the time to its first
        token; the challenger's shadow answer to a chat request asked for."""
        latency = 1000 * (time.perf_counter() - started)
        challenger = sides.challenger
        router.count(sides, latency, False)
        log = app.state.log
        if log is None:
            return
        texts = [prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False)
                 for prompt in generation.prompts]
        rows = [{"output": row["text"], "prompt_tokens": row["prompt_tokens"],
                 "completion_tokens": row["completion_tokens"], "ttft_ms": row.get("ttft_ms", latency)}
                for row in answers]
        context = router.log_context(sides)
        request_ids = [request_id] * len(texts)
        log.record(make_rows(texts, rows, request_ids, context, latency, params.monitor.log_inputs))
        if router.shadow is not None and challenger is not None and sides.role == CHAMPION and \
                all(isinstance(prompt, list) for prompt in generation.prompts):
            router.shadow.submit(challenger, texts, request_ids, context)

    async def stream_answer(served, generation, chat: bool, sides, started: float):
        """The answer's pieces as OpenAI's chunks while the model writes them (a completion's first prompt: a
        streamed completion takes one); the prompt is checked (and a 400 answered) before the first byte is sent,
        since after it the status is fixed."""
        if not chat and len(generation.prompts) > 1:
            return answer(400, error_body(OpenAIError("a streamed completion takes one prompt", "prompt")),
                          served.version, sides.role)
        pieces = served.model.stream(generation.prompts[0], generation, params.serve)
        try:
            first = await run_in_thread(next, pieces)
        except OpenAIError as error:
            return answer(400, error_body(error), served.version, sides.role)
        ttft = 1000 * (time.perf_counter() - started)
        request_id = new_request_ids(1)[0]
        created = int(time.time())

        def chunk(text: str | None, reason: str | None) -> str:
            if not chat:
                return completion_chunk(request_id, name, text or "", reason, created)
            return chat_chunk(request_id, name, {} if text is None else {"content": text}, reason, created)

        async def events():
            try:
                if chat:
                    yield chat_chunk(request_id, name, {"role": "assistant", "content": ""}, None, created)
                found = first
                while isinstance(found, str):
                    yield chunk(found, None)
                    found = await run_in_thread(next, pieces)
                yield chunk(None, found["finish_reason"])
                if generation.usage_in_stream:
                    yield event({"id": f"{'chatcmpl' if chat else 'cmpl'}-{request_id}",
                                 "object": "chat.completion.chunk" if chat else "text_completion",
                                 "created": created, "model": name, "choices": [],
                                 "usage": usage(found["prompt_tokens"], found["completion_tokens"])})
                yield event("[DONE]")
                record(generation, [found | {"ttft_ms": ttft}], request_id, sides, started)
            finally:  # the client gone mid-answer (the server cancels this generator): its row is freed
                pieces.close()

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"X-Model-Version": served.version, "X-Route": sides.role})

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        return await generate(request, True)

    @app.post("/v1/completions")
    async def completions(request: Request):
        return await generate(request, False)

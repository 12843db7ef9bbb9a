"""OpenAI's routes on `lmforge serve`: `GET /v1/models`, `POST /v1/chat/completions`, `POST /v1/completions`, beside
MLflow's `/invocations`, answered by the champion the server follows (a model whose python model can `complete`).

The requests are read and the answers written by tasks/servers/openai_protocol.py; generation runs in a worker
thread, so /ping and the parsing of other requests go on meanwhile. A streamed chat request (`stream: true`) is
answered as server-sent events in OpenAI's chunk format, each piece as the model writes it (a model without a
`stream` of its own, and a streamed completion, are sent whole once generated).
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' `request: Request` annotation at run time.
import json
import time

from tasks.core.config import Params
from tasks.core.errors import LmforgeError


def add_openai_routes(app, params: Params, champion, answer) -> None:
    """`champion`: the server's holder of the champion (its `get()` gives the Served version); `answer(status, body,
    version)`: the server's JSON response, with its X-Model-Version header."""
    from fastapi import Request
    from fastapi.responses import StreamingResponse
    from starlette.concurrency import run_in_threadpool as run_in_thread

    from tasks.data.inference_log import make_rows, new_request_ids
    from tasks.servers.openai_protocol import (OpenAIError, chat_chunk, chat_response, completion_response, error_body,
                                               event, models_list, read_request, usage)

    name = params.registry.model_name

    @app.get("/v1/models")
    async def models():
        try:
            served = await run_in_thread(champion.get)
        except LmforgeError as error:
            return answer(503, {"error": {"message": str(error), "type": "server_error"}})
        return answer(200, models_list(name, served.version), served.version)

    async def generate(request: Request, chat: bool):
        try:
            generation = read_request(await request.body(), chat, params.serve)
        except OpenAIError as error:
            return answer(400, error_body(error))
        try:
            served = await run_in_thread(champion.get)
        except LmforgeError as error:
            return answer(503, {"error": {"message": str(error), "type": "server_error"}})
        complete = getattr(served.model, "complete", None)
        if generation.stream and chat and hasattr(served.model, "stream"):
            return await stream_answer(served, generation)
        if complete is None:
            refusal = OpenAIError(f"version {served.version} of {name} does not generate text through OpenAI's API "
                                  "(it serves chat models); send its requests to /invocations")
            return answer(400, error_body(refusal), served.version)
        started = time.perf_counter()
        try:
            answers = await run_in_thread(complete, generation.prompts, generation, params.serve)
        except OpenAIError as error:
            return answer(400, error_body(error), served.version)
        request_id = new_request_ids(1)[0]
        record(served, generation.prompts, answers, request_id, 1000 * (time.perf_counter() - started))
        counted = usage(sum(row["prompt_tokens"] for row in answers), sum(row["completion_tokens"] for row in answers))
        if generation.stream and chat:
            return StreamingResponse(stream_chat(request_id, answers[0], counted, generation.usage_in_stream),
                                     media_type="text/event-stream", headers={"X-Model-Version": served.version})
        if chat:
            return answer(200, chat_response(request_id, name, answers[0]["text"], answers[0]["finish_reason"],
                                             counted), served.version)
        body = completion_response(request_id, name, [(row["text"], row["finish_reason"]) for row in answers], counted)
        if generation.stream:
            body["object"] = "text_completion"
            return StreamingResponse(iter([event(body), event("[DONE]")]), media_type="text/event-stream",
                                     headers={"X-Model-Version": served.version})
        return answer(200, body, served.version)

    def record(served, prompts: list, answers: list[dict], request_id: str, latency_ms: float) -> None:
        """The inference log's rows of a request (one per prompt, sharing its id): the prompt as a client sent it
        (a conversation as the JSON of its turns), the answer, its tokens; answered whole, so its first token came
        with the last."""
        log = app.state.log
        if log is None:
            return
        texts = [prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False) for prompt in prompts]
        rows = [{"output": row["text"], "prompt_tokens": row["prompt_tokens"],
                 "completion_tokens": row["completion_tokens"], "ttft_ms": row.get("ttft_ms", latency_ms)}
                for row in answers]
        context = {"source": "serve", "model_name": name, "model_version": served.version,
                   "alias": params.registry.champion_alias, "backend": served.backend, "role": "champion",
                   "champion_version": served.version, "challenger_version": None}
        log.record(make_rows(texts, rows, [request_id] * len(texts), context, latency_ms, params.monitor.log_inputs))

    async def stream_answer(served, generation):
        """The answer's pieces as OpenAI's chunks while the model writes them; the prompt is checked (and a 400
        answered) before the first byte is sent, since after it the status is fixed."""
        started = time.perf_counter()
        pieces = served.model.stream(generation.prompts[0], generation, params.serve)
        try:
            first = await run_in_thread(next, pieces)
        except OpenAIError as error:
            return answer(400, error_body(error), served.version)
        ttft = 1000 * (time.perf_counter() - started)
        request_id = new_request_ids(1)[0]

        async def events():
            created = int(time.time())
            try:
                yield chat_chunk(request_id, name, {"role": "assistant", "content": ""}, None, created)
                found = first
                while isinstance(found, str):
                    yield chat_chunk(request_id, name, {"content": found}, None, created)
                    found = await run_in_thread(next, pieces)
                yield chat_chunk(request_id, name, {}, found["finish_reason"], created)
                counted = usage(found["prompt_tokens"], found["completion_tokens"])
                if generation.usage_in_stream:
                    yield event({"id": f"chatcmpl-{request_id}", "object": "chat.completion.chunk",
                                 "created": created, "model": name, "choices": [], "usage": counted})
                yield event("[DONE]")
                record(served, generation.prompts, [found | {"ttft_ms": ttft}], request_id,
                       1000 * (time.perf_counter() - started))
            finally:  # the client gone mid-answer (the server cancels this generator): its row is freed
                pieces.close()

        return StreamingResponse(events(), media_type="text/event-stream", headers={"X-Model-Version": served.version})

    def stream_chat(request_id: str, found: dict, counted: dict, with_usage: bool):
        created = int(time.time())
        yield chat_chunk(request_id, name, {"role": "assistant", "content": ""}, None, created)
        yield chat_chunk(request_id, name, {"content": found["text"]}, None, created)
        yield chat_chunk(request_id, name, {}, found["finish_reason"], created)
        if with_usage:
            yield event({"id": f"chatcmpl-{request_id}", "object": "chat.completion.chunk", "created": created,
                         "model": name, "choices": [], "usage": counted})
        yield event("[DONE]")

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        return await generate(request, True)

    @app.post("/v1/completions")
    async def completions(request: Request):
        return await generate(request, False)

"""serve: the champion over HTTP with MLflow's scoring protocol (`/ping`, `/invocations`), following its alias.

A thin FastAPI app rather than `mlflow models serve`: MLflow's server resolves `models:/NAME@champion` once when it
starts and runs the eager flavour, so it could neither follow a promotion or rollback without a restart nor run the
ONNX exports. Every answer names the version and backend that gave it (body and X-Model-Version header) and a request id per
input, the key of its row in the inference log (monitor.log), which a background thread writes off the response path.
With serve.shadow or serve.canary the challenger serves beside the champion (tasks/servers/router.py).
"""

# No `from __future__ import annotations`: FastAPI reads the endpoint's `request: Request` annotation at run time, and
# Request is imported inside build_app (fastapi loads only when serving).
import contextlib
import sys
import time

from tasks.core.config import Params
from tasks.core.errors import LmforgeError
from tasks.kinds import get_kind
from tasks.servers.holders import Served
from tasks.servers.serving_requests import BadRequest, check_batch, read_texts


def load_served(params: Params, version, threads: int | None = None) -> Served:
    """The version's predictor: its export for serve.backend when that passed parity, else eager PyTorch.
    `threads`: ONNX Runtime threads of its sessions (a shadow model's one), else the runtime's default."""
    from tasks.registry.backends import limit_session_threads
    from tasks.registry.registered import load_registered

    loaded = load_registered(params, f"models:/{params.registry.model_name}/{version.version}")
    if "python_function" not in loaded.metadata.flavors or "transformers" in loaded.metadata.flavors:
        raise LmforgeError(f"version {version.version} was registered by an earlier lmforge (MLflow's transformers "
                           "flavour), which serve cannot run; promote a version registered since, or retrain.")
    model = loaded.unwrap_python_model()
    backend = params.serve.backend
    with limit_session_threads(threads) if threads else contextlib.nullcontext():
        try:
            model.load_backend(backend)  # loads it now, not on the first request
        except LmforgeError:
            backend = "eager"  # not exported, failed parity, or not made for this kind: never serve an export that disagrees
            model.load_backend(backend)
    rows = get_kind(params.task).serve_rows
    return Served(str(version.version), backend, lambda texts: rows(model.predict(None, texts, {"backend": backend})),
                  dict(version.tags))


def build_app(params: Params, pinned: str | None = None):
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    from tasks.data.inference_log import open_log
    from tasks.servers.router import ModelFailed, Router

    log = open_log(params.paths.inference_log, params.monitor)
    router = Router(params, pinned, log, load_served)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        router.close()  # the shadow's queued requests first, so that their rows reach the log
        if log is not None:  # in uvicorn's graceful shutdown: a SIGTERM'd server still writes what is queued
            status = log.close()
            print(f"inference log: {status['written']} rows written to {status['folder']}, {status['not_logged']} not "
                  "logged" + (f" ({status['error']})" if status["error"] else ""), file=sys.stderr, flush=True)

    app = FastAPI(title="lmforge", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.log = log

    def answer(status: int, body: dict, served: Served | None = None, route: str | None = None) -> JSONResponse:
        headers = {"X-Model-Version": served.version} if served else {}
        if route:
            headers["X-Route"] = route
        return JSONResponse(body, status_code=status, headers=headers or None)

    @app.get("/ping")
    def ping():
        try:
            champion = router.champion.get()
        except LmforgeError as error:
            return answer(503, {"error": str(error)})
        if router.challenger:
            router.challenger.get()  # starts loading a new challenger, never waits for it
        return answer(200, {"status": "ok", "model_version": champion.version, "backend": champion.backend,
                            "log": log.status() if log else None,
                            "challenger": router.status() if router.challenger else None}, champion)

    @app.post("/invocations")
    async def invocations(request: Request):
        started = time.perf_counter()
        try:
            texts = read_texts(await request.body(), params)
            check_batch(texts, params)
        except BadRequest as error:
            return answer(error.status, {"error": str(error)})
        try:  # in a worker thread: a registry check or a new champion's loading never blocks the event loop
            body = await run_in_thread(router.answer, texts, request.headers.get(params.serve.canary.key), started)
        except ModelFailed as error:
            return answer(500, {"error": str(error)})
        except LmforgeError as error:
            return answer(503, {"error": str(error)})
        return answer(200, body, Served(body["model_version"], body["backend"], None), body["route"])

    return app, router.champion


async def run_in_thread(fn, *args):
    """Model calls leave the event loop free for /ping and for parsing the next request."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)

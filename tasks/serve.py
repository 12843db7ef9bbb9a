"""serve: the champion over HTTP with MLflow's scoring protocol (`/ping`, `/invocations`), following its alias.

A thin FastAPI app rather than `mlflow models serve`: MLflow's server resolves `models:/NAME@champion` once when it
starts and runs the eager flavour, so it could neither follow a promotion or rollback without a restart nor run the
ONNX exports. Every answer names the version and backend that gave it (body and X-Model-Version header) and a request id per
input, the key of its row in the inference log (monitor.log), which a background thread writes off the response path.
With serve.shadow or serve.canary the challenger serves beside the champion (tasks/servers/router.py).
"""

# fastapi loads only when serving: imported inside build_app.
import contextlib
import os
import sys
import time

from tasks.core.config import Params
from tasks.core.errors import LmforgeError, redact_error
from tasks.kinds import get_kind
from tasks.servers.holders import Served


def load_served(params: Params, version, threads: int | None = None, arriving=None) -> Served:
    """The version's predictor: its export for serve.backend when that passed parity, else eager PyTorch, behind a
    micro-batcher (serve.batch; `arriving`: the requests inside the server on their way to a model). `threads`: ONNX Runtime threads of
    its sessions (a shadow-only model's one, which calls the model directly), else the runtime's default."""
    from tasks.servers.batching import MicroBatcher

    from tasks.registry import tracking
    from tasks.registry.backends import limit_session_threads
    from tasks.registry.registered import load_registered
    from tasks.servers.admissible import fetch_checked_model

    # Loaded from a copy whose model code was checked (the holder checked the store's before; this copy is what runs),
    # removed when the version is replaced or the server stops.
    import atexit
    import shutil

    scratch, folder = fetch_checked_model(tracking.client(params), params, version)
    atexit.register(shutil.rmtree, scratch, True)
    loaded = load_registered(params, str(folder))
    if "python_function" not in loaded.metadata.flavors or "transformers" in loaded.metadata.flavors:
        raise LmforgeError(f"version {version.version} was registered by an earlier lmforge (MLflow's transformers "
                           "flavour), which serve cannot run; promote a version registered since, or retrain.")
    model = loaded.unwrap_python_model()
    backend, fallback = params.serve.backend, None
    batched = params.serve.batch.max_size > 1 and not threads  # a shadow-only model (its own threads) calls directly
    workers = params.serve.batch.workers if batched else 1
    threads = threads or (1 if workers > 1 else None)  # several calls at once: one runtime thread each
    with limit_session_threads(threads) if threads else contextlib.nullcontext():
        try:
            model.load_backend(backend)  # loads it now, not on the first request
        except LmforgeError as error:
            # Not exported, failed parity, files changed since, or not made for this kind: never serve an export that
            # disagrees or that is not the one checked. Said once, as the version loads.
            if backend != "eager":
                fallback = str(error)
                print(f"lmforge serve: version {version.version} runs eager: {fallback}", file=sys.stderr, flush=True)
            backend = "eager"
            model.load_backend(backend)
    kind = get_kind(params.task)
    direct = lambda texts: kind.serve_rows(model.predict(None, texts, {"backend": backend}))  # noqa: E731
    warm_up_ms = warm_up(direct, len(kind.INPUT_KEYS), version)
    waited = lambda seconds: None  # noqa: E731
    if params.serve.metrics.enabled:
        from tasks.telemetry.metrics import serve_metrics, time_calls

        metrics = serve_metrics()
        direct, waited = time_calls(direct, metrics, str(version.version)), metrics.queue_wait.observe
    batch = params.serve.batch
    batcher = MicroBatcher(direct, batch.max_size, batch.max_wait_ms, arriving or (lambda: 0), waited, workers) \
        if batched else None
    return Served(str(version.version), backend, batcher or direct, dict(version.tags), direct, batcher, model, fallback,
                  str(scratch), warm_up_ms)


def warm_up(predict, parts: int, version) -> float:
    """One request before the version answers any (its first call pays for lazy set-ups: ONNX Runtime's arenas,
    tokenizer caches); a version that cannot answer it fails to load, so it never replaces one that can. Returns
    its milliseconds."""
    from tasks.registry.pyfunc import INPUT_SEPARATOR

    started = time.perf_counter()
    try:
        predict([INPUT_SEPARATOR.join(["a warm-up request"] * parts)])
    except Exception as error:  # noqa: BLE001 - whatever the model raises, the load fails with why
        raise LmforgeError(f"version {version.version} failed its warm-up request ({redact_error(error)}); it is "
                           "not served.") from None
    return round(1000 * (time.perf_counter() - started), 1)


def build_app(params: Params, pinned: str | None = None):
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from tasks.data.inference_log import open_log
    from tasks.servers.router import Router
    from tasks.telemetry import tracing

    tracing.start_tracing("lmforge-serve")  # each worker process builds its app here: each traces on its own
    log = tracing.trace_log(open_log(params.paths.inference_log, params.monitor))
    parts = len(get_kind(params.task).INPUT_KEYS)  # texts joined into one input (qa: question || context)
    # Requests inside the server that have not reached a model yet (their body read, their JSON parsed): a batch
    # waits for more only while some are on their way, not for those whose answers are going out.
    arriving = [0]
    router = Router(params, pinned, log, lambda *args: load_served(*args, arriving=lambda: arriving[0]))

    from tasks.servers.health import FirstLoad, add_health_routes
    from tasks.telemetry.serving import add_metrics, count_requests

    first = FirstLoad(router.champion)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        # The port answers probes while the first champion loads (/health/ready says so); a request waits for it.
        first.start()
        if sampler is not None:
            sampler.start()
        yield
        if sampler is not None:
            sampler.stop()
        router.close()  # the shadow's queued requests first, so that their rows reach the log
        if log is not None:  # in uvicorn's graceful shutdown: a SIGTERM'd server still writes what is queued
            status = log.close()
            print(f"inference log: {status['written']} rows written to {status['folder']}, {status['not_logged']} not "
                  "logged" + (f" ({status['error']})" if status["error"] else ""), file=sys.stderr, flush=True)
        tracing.stop_tracing()  # the spans still queued go out before the process ends

    from tasks.telemetry.request_spans import RequestSpans, fastapi_telemetry

    app = FastAPI(title="lmforge", docs_url=None, redoc_url=None, lifespan=lifespan, telemetry=fastapi_telemetry())
    app.state.log = log
    from tasks.servers.admission import AdmissionLimit

    app.add_middleware(AdmissionLimit, limit=params.serve.max_concurrency)
    from tasks.servers.auth import BearerAuth, check_auth_ready

    tokens = check_auth_ready(params, params.serve.host)
    if tokens is not None:  # a caller without a token is refused before anything else but the count
        app.add_middleware(BearerAuth, store=tokens)
    sampler = add_metrics(app, params, router, log)
    if sampler is not None:  # added last, so outermost: every answer is counted, refusals included
        count_requests(app, sampler)
    if tracing.ON:  # outermost: a refusal is in the request's trace too (inside FastAPI's span of the request)
        app.add_middleware(RequestSpans, model_name=params.registry.model_name)

    def answer(status: int, body: dict, version: str | None = None, route: str | None = None) -> JSONResponse:
        headers = {"X-Model-Version": version} if version else {}
        if route:
            headers["X-Route"] = route
        return JSONResponse(body, status_code=status, headers=headers or None)

    @app.get("/ping")
    def ping():
        if router.champion.current is None and not first.done.wait(2.0):  # a long first load: answered meanwhile
            return answer(503, {"error": "the champion is loading; /health/ready says when it answers.",
                                "loading": True, "refused": None})
        try:
            champion = router.champion.get()
        except LmforgeError as error:  # nothing to serve: no champion, or one that is refused (`refused` says why)
            return answer(503, {"error": str(error), "refused": router.champion.refused})
        if router.challenger:
            router.challenger.get()  # starts loading a new challenger, never waits for it
        return answer(200, {"status": "ok", "model_version": champion.version, "backend": champion.backend,
                            "fallback": champion.fallback, "refused": router.champion.refused,
                            "worker": os.getpid(),
                            "log": log.status() if log else None,
                            "batching": champion.batcher.status() if champion.batcher else None,
                            "generation": champion.generating().status() if champion.generating() else None,
                            "challenger": router.status() if router.challenger else None}, champion.version)

    add_health_routes(app, router.champion, answer, first)
    from tasks.servers.scoring_api import add_scoring_route

    add_scoring_route(app, params, router, answer, parts, arriving,
                      sampler.inside if sampler is not None else {"texts": 0})

    from tasks.feedback import feed_back
    from tasks.servers.feedback_api import add_feedback_route

    add_feedback_route(app, params, answer, feed_back)
    from tasks.servers.openai_api import add_openai_routes

    add_openai_routes(app, params, router, answer)
    return app, router.champion


SERVE_SPEC = "LMFORGE_SERVE_SPEC"  # what each worker of a several-process server builds its app from


def create_app():
    """uvicorn's factory in each process of `lmforge serve` with serve.workers > 1: the app of the params the
    command loaded (the same file and overrides); its champion loads as it starts, as a single process's does."""
    import json
    import os

    from tasks.core.config import load_params

    spec = json.loads(os.environ[SERVE_SPEC])
    return build_app(load_params(spec["params"], spec["overrides"]), spec["pinned"])[0]


def find_servable(params: Params, pinned: str | None = None) -> str:
    """The version a server would answer with, from the registry alone (no model loaded): a several-process server
    says there is nothing to serve before it starts its workers."""
    from tasks.registry import tracking

    client, name = tracking.client(params), params.registry.model_name
    try:
        found = client.get_model_version(name, pinned) if pinned else \
            client.get_model_version_by_alias(name, params.registry.champion_alias)
    except Exception as error:  # noqa: BLE001 - no such model, version or alias, or the registry is down
        wanted = f"version {pinned}" if pinned else f"@{params.registry.champion_alias}"
        raise LmforgeError(f"{name} has no {wanted} to serve ({redact_error(error, 120)}); run `lmforge run` "
                           "first.") from None
    return str(found.version)

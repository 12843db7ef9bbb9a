"""serve: the champion over HTTP with MLflow's scoring protocol (`/ping`, `/invocations`), following its alias.

A thin FastAPI app rather than `mlflow models serve`: MLflow's server resolves `models:/NAME@champion` once when it
starts and runs the eager flavour, so it could neither follow a promotion or rollback without a restart nor run the
ONNX exports. Every answer names the version and backend that gave it (body and X-Model-Version header) and a request id per
input, the key of its row in the inference log (monitor.log), which a background thread writes off the response path.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoint's `request: Request` annotation at run time, and
# Request is imported inside build_app (fastapi loads only when serving).
import contextlib
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tasks.core.config import Params
from tasks.core.errors import LmforgeError
from tasks.kinds import get_kind
from tasks.servers.serving_requests import BadRequest, check_batch, read_texts


@dataclass
class Champion:
    version: str
    backend: str
    predict: Callable[[list[str]], list[dict]]


def load_champion(params: Params, version) -> Champion:
    """The version's predictor: its export for serve.backend when that passed parity, else eager PyTorch."""
    from tasks.registry.registered import load_registered

    loaded = load_registered(params, f"models:/{params.registry.model_name}/{version.version}")
    if "python_function" not in loaded.metadata.flavors or "transformers" in loaded.metadata.flavors:
        raise LmforgeError(f"version {version.version} was registered by an earlier lmforge (MLflow's transformers "
                           "flavour), which serve cannot run; promote a version registered since, or retrain.")
    model = loaded.unwrap_python_model()
    backend = params.serve.backend
    try:
        model.load_backend(backend)  # loads it now, not on the first request
    except LmforgeError:
        backend = "eager"  # not exported, failed parity, or not made for this kind: never serve an export that disagrees
        model.load_backend(backend)
    rows = get_kind(params.task).serve_rows
    return Champion(str(version.version), backend, lambda texts: rows(model.predict(None, texts, {"backend": backend})))


class ChampionHolder:
    """The current champion; where the alias points is checked at most every serve.refresh_s seconds. With `pinned`,
    that version only (the serving check's challenger), whatever the alias says."""

    def __init__(self, params: Params, pinned: str | None = None):
        from tasks.registry import tracking

        self.params, self.client, self.pinned = params, tracking.client(params), pinned
        self.lock, self.current, self.checked = threading.Lock(), None, 0.0

    def get(self) -> Champion:
        if self.current is not None and time.monotonic() - self.checked < self.params.serve.refresh_s:
            return self.current
        # One request checks the alias (and loads a new champion); the others meanwhile get the version loaded now.
        if not self.lock.acquire(blocking=self.current is None):
            return self.current
        try:
            if self.current is None or time.monotonic() - self.checked >= self.params.serve.refresh_s:
                self.refresh()
            return self.current
        finally:
            self.lock.release()

    def refresh(self) -> None:
        registry = self.params.registry
        try:
            version = self.client.get_model_version(registry.model_name, self.pinned) if self.pinned else \
                self.client.get_model_version_by_alias(registry.model_name, registry.champion_alias)
        except Exception as error:  # noqa: BLE001 - the registry is down or has no champion
            if self.current is None:
                wanted = f"version {self.pinned}" if self.pinned else f"@{registry.champion_alias}"
                raise LmforgeError(f"{registry.model_name} has no {wanted} to serve "
                                   f"({str(error).splitlines()[0][:120]}); run `lmforge run` first.") from None
            version = None  # keep answering with the version already loaded
        if version is not None and (self.current is None or self.current.version != str(version.version)):
            try:
                self.current = load_champion(self.params, version)
            except Exception as error:  # noqa: BLE001 - a broken new champion must not stop the one serving
                if self.current is None:
                    raise
                print(f"lmforge serve: version {version.version} could not be loaded ({error}); version "
                      f"{self.current.version} keeps answering.", file=sys.stderr, flush=True)
        self.checked = time.monotonic()


def build_app(params: Params, pinned: str | None = None):
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    from tasks.data.inference_log import make_rows, new_request_ids, open_log

    log = open_log(params.paths.inference_log, params.monitor)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        if log is not None:  # in uvicorn's graceful shutdown: a SIGTERM'd server still writes what is queued
            status = log.close()
            print(f"inference log: {status['written']} rows written to {status['folder']}, {status['not_logged']} not "
                  "logged" + (f" ({status['error']})" if status["error"] else ""), file=sys.stderr, flush=True)

    holder = ChampionHolder(params, pinned)
    app = FastAPI(title="lmforge", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.log = log

    def answer(status: int, body: dict, champion: Champion | None = None) -> JSONResponse:
        headers = {"X-Model-Version": champion.version} if champion else None
        return JSONResponse(body, status_code=status, headers=headers)

    @app.get("/ping")
    def ping():
        try:
            champion = holder.get()
        except LmforgeError as error:
            return answer(503, {"error": str(error)})
        return answer(200, {"status": "ok", "model_version": champion.version, "backend": champion.backend,
                            "log": log.status() if log else None}, champion)

    @app.post("/invocations")
    async def invocations(request: Request):
        started = time.perf_counter()
        try:
            texts = read_texts(await request.body(), params)
            check_batch(texts, params)
        except BadRequest as error:
            return answer(error.status, {"error": str(error)})
        def predict() -> tuple[Champion, list[dict]]:
            champion = holder.get()
            return champion, champion.predict(texts)

        try:  # in a worker thread: a registry check or a new champion's loading never blocks the event loop
            champion, predictions = await run_in_thread(predict)
        except LmforgeError as error:
            return answer(503, {"error": str(error)})
        request_ids = new_request_ids(len(texts))
        if log is not None:
            context = {"source": "serve", "model_name": params.registry.model_name, "model_version": champion.version,
                       "alias": params.registry.champion_alias, "backend": champion.backend}
            log.record(make_rows(texts, predictions, request_ids, context, 1000 * (time.perf_counter() - started),
                                 params.monitor.log_inputs))
        return answer(200, {"predictions": predictions, "model_version": champion.version,
                            "backend": champion.backend, "request_ids": request_ids}, champion)

    return app, holder


async def run_in_thread(fn, *args):
    """Model calls leave the event loop free for /ping and for parsing the next request."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)

"""serve: the champion over HTTP with MLflow's scoring protocol (`/ping`, `/invocations`), following its alias.

A thin FastAPI app rather than `mlflow models serve`: MLflow's server resolves `models:/NAME@champion` once when it
starts and runs the eager flavour, so it could neither follow a promotion or rollback without a restart nor run the
ONNX exports. Every answer names the version and backend that gave it (body and X-Model-Version header).
"""

# No `from __future__ import annotations`: FastAPI reads the endpoint's `request: Request` annotation at run time, and
# Request is imported inside build_app (fastapi loads only when serving).
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tasks.config import Params
from tasks.errors import LmforgeError


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class Champion:
    version: str
    backend: str
    predict: Callable[[list[str]], list[dict]]


def load_champion(params: Params, version) -> Champion:
    """The version's predictor: its export for serve.backend when that passed parity, else eager PyTorch."""
    from tasks.backends import TextScorer, label_texts
    from tasks.export import fetch_model
    from tasks.predict import fetch_export, load_registered

    uri = f"models:/{params.registry.model_name}/{version.version}"
    if params.task == "seq2seq":
        model = load_registered(params, uri)
        return Champion(str(version.version), "eager", lambda texts: [{"output": out} for out in model.predict(texts)])
    backend, folder = params.serve.backend, None
    if backend != "eager":
        try:
            folder = fetch_export(params, uri, backend)
        except LmforgeError:
            backend = "eager"  # not exported, or failed parity: never serve an export that disagrees
    folder = folder or fetch_model(params, str(version.version), version.run_id)
    scorer = TextScorer(folder, backend)
    label = lambda texts: [{"label": name, "score": score} for name, score in label_texts(folder, scorer, texts)]
    return Champion(str(version.version), backend, label)


class ChampionHolder:
    """The current champion; where the alias points is checked at most every serve.refresh_s seconds."""

    def __init__(self, params: Params):
        from tasks import tracking

        self.params, self.client = params, tracking.client(params)
        self.lock, self.current, self.checked = threading.Lock(), None, 0.0

    def get(self) -> Champion:
        if self.current is not None and time.monotonic() - self.checked < self.params.serve.refresh_s:
            return self.current
        with self.lock:
            if self.current is None or time.monotonic() - self.checked >= self.params.serve.refresh_s:
                registry = self.params.registry
                try:
                    version = self.client.get_model_version_by_alias(registry.model_name, registry.champion_alias)
                except Exception as error:  # noqa: BLE001 - the registry is down or has no champion
                    if self.current is not None:
                        return self.current  # keep answering with the version already loaded
                    raise LmforgeError(f"{registry.model_name} has no @{registry.champion_alias} to serve "
                                       f"({str(error).splitlines()[0][:120]}); run `lmforge run` first.") from None
                if self.current is None or self.current.version != str(version.version):
                    self.current = load_champion(self.params, version)
                self.checked = time.monotonic()
        return self.current


def read_texts(body: bytes, params: Params) -> list[str]:
    """Texts from a scoring request: dataframe_split, dataframe_records, inputs or instances (MLflow's formats)."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest(400, "the request body is not UTF-8 text; send JSON encoded as UTF-8.") from None
    except ValueError as error:
        raise BadRequest(400, f"the request body is not valid JSON ({error}); send e.g. "
                              '{"inputs": ["a text"]}.') from None
    columns = {"text", "source", params.data.text_column, params.data.source_column}
    if not isinstance(payload, dict):
        raise BadRequest(400, 'the JSON must be an object such as {"inputs": ["a text"]}.')
    if "dataframe_split" in payload:
        split = payload["dataframe_split"] or {}
        names = [name for name in split.get("columns", []) if name in columns]
        if not names:
            raise BadRequest(400, f"dataframe_split has no text column (columns {split.get('columns')}); name it text.")
        at = split["columns"].index(names[0])
        texts = [row[at] for row in split.get("data", [])]
    elif "dataframe_records" in payload:
        records = payload["dataframe_records"] or []
        names = [name for name in columns if records and isinstance(records[0], dict) and name in records[0]]
        if records and not names:
            raise BadRequest(400, "dataframe_records rows have no text field; name it text.")
        texts = [record.get(names[0]) if isinstance(record, dict) else None for record in records]
    elif "inputs" in payload or "instances" in payload:
        found = payload.get("inputs", payload.get("instances"))
        texts = found.get("text", []) if isinstance(found, dict) else found
    else:
        raise BadRequest(400, "the JSON needs one of dataframe_split, dataframe_records, inputs or instances.")
    if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
        raise BadRequest(400, "every text must be a JSON string; found another type or a missing value.")
    return texts


def check_batch(texts: list[str], params: Params) -> None:
    limits = params.serve
    if not texts:
        raise BadRequest(400, "the batch is empty; send at least one text.")
    if len(texts) > limits.max_batch:
        raise BadRequest(413, f"{len(texts)} texts are more than serve.max_batch ({limits.max_batch}); split the batch.")
    longest = max(range(len(texts)), key=lambda i: len(texts[i]))
    if len(texts[longest]) > limits.max_text_chars:
        raise BadRequest(413, f"text {longest} has {len(texts[longest])} characters, more than serve.max_text_chars "
                              f"({limits.max_text_chars}); shorten it.")


def build_app(params: Params):
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    holder, app = ChampionHolder(params), FastAPI(title="lmforge", docs_url=None, redoc_url=None)

    def answer(status: int, body: dict, champion: Champion | None = None) -> JSONResponse:
        headers = {"X-Model-Version": champion.version} if champion else None
        return JSONResponse(body, status_code=status, headers=headers)

    @app.get("/ping")
    def ping():
        try:
            champion = holder.get()
        except LmforgeError as error:
            return answer(503, {"error": str(error)})
        return answer(200, {"status": "ok", "model_version": champion.version, "backend": champion.backend}, champion)

    @app.post("/invocations")
    async def invocations(request: Request):
        try:
            texts = read_texts(await request.body(), params)
            check_batch(texts, params)
        except BadRequest as error:
            return answer(error.status, {"error": str(error)})
        try:
            champion = holder.get()
        except LmforgeError as error:
            return answer(503, {"error": str(error)})
        predictions = await run_in_thread(champion.predict, texts)
        return answer(200, {"predictions": predictions, "model_version": champion.version,
                            "backend": champion.backend}, champion)

    return app, holder


async def run_in_thread(fn, *args):
    """Model calls leave the event loop free for /ping and for parsing the next request."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)

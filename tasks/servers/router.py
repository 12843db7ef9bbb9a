"""Which version answers each request of `lmforge serve`: the champion, or the challenger as a canary (a sticky
share of callers), with the challenger also scoring the champion's requests aside when serve.shadow is on. Every
answer names both versions; every answer and shadow score is a row of the inference log under the request's id."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from dataclasses import dataclass

from tasks.core.config import Params
from tasks.core.errors import LmforgeError, redact_error
from tasks.data.inference_log import make_rows, new_request_ids
from tasks.registry.champion import CANARY_ROLLED_BACK
from tasks.servers.holders import Loader, Served, VersionHolder
from tasks.servers.shadow import ShadowScorer
from tasks.servers.traffic import CANARY, CHAMPION, CanaryWatch, takes_canary


class ModelFailed(LmforgeError):
    """The model raised on a request: a 500 for that request, counted against its side."""


@dataclass
class Routed:
    """Who answers one request: the versions served, whether the challenger is a live canary, and the side chosen."""
    champion: Served
    challenger: Served | None
    live: bool
    role: str

    @property
    def answering(self) -> Served:
        return self.challenger if self.role == CANARY else self.champion


class Router:
    def __init__(self, params: Params, pinned: str | None, log, load: Loader):
        serve, registry = params.serve, params.registry
        self.params, self.log = params, log
        self.champion = VersionHolder(params, load, registry.champion_alias, pinned)
        self.challenger = None
        if not pinned and (serve.shadow or serve.canary.share > 0):
            # A shadow-only challenger gets one ONNX thread: it must not take the cores the champion answers on.
            self.challenger = VersionHolder(params, load, registry.alias, optional=True, unless=self.is_champion,
                                            threads=None if serve.canary.share > 0 else 1)
        self.shadow = ShadowScorer(log, params.monitor.log_inputs) if self.challenger and serve.shadow and log else None
        self.watch = CanaryWatch(serve.canary)
        self.stopped: set[str] = set()  # versions whose canary this process took back (before the registry says so)

    def is_champion(self, version: str) -> bool:
        return self.champion.current is not None and self.champion.current.version == version

    def sides(self) -> tuple[Served, Served | None, bool]:
        """The champion, the challenger (None: none to serve), and whether the challenger is a live canary."""
        champion = self.champion.get()
        challenger = self.challenger.get() if self.challenger else None
        if challenger is not None and challenger.version == champion.version:
            challenger = None  # promoted meanwhile: the same version is not its own challenger
        live = challenger is not None and self.params.serve.canary.share > 0 and not self.rolled_back(challenger)
        return champion, challenger, live

    def answer(self, texts: list[str], key: str | None, started: float) -> dict:
        """Runs in a worker thread (loading a new champion or calling the model never blocks the event loop)."""
        routed = self.route(key)
        try:
            predictions = routed.answering.predict(texts)
        except Exception as error:  # noqa: BLE001 - one request's failure, counted for the canary's judgement
            raise self.failed(routed, started, error) from None
        return self.finish(texts, predictions, routed, started)

    def submit(self, texts: list[str], key: str | None) -> tuple[Routed, asyncio.Future] | None:
        """The request queued straight on the answering version's micro-batcher, from the event loop, with no thread
        waiting for it: only while the champion needs no registry check (else None, and the caller takes answer's
        thread path, which may check the alias and load a new version)."""
        if self.champion.current is None or self.champion.due():
            return None
        routed = self.route(key)
        batcher = routed.answering.batcher
        future = batcher.submit(texts, asyncio.get_running_loop()) if batcher is not None else None
        return None if future is None else (routed, future)

    def route(self, key: str | None) -> Routed:
        champion, challenger, live = self.sides()
        role = CANARY if live and takes_canary(key, self.params.serve.canary.share) else CHAMPION
        return Routed(champion, challenger, live, role)

    def failed(self, routed: Routed, started: float, error: Exception) -> ModelFailed:
        self.count(routed, 1000 * (time.perf_counter() - started), True)
        return ModelFailed(f"version {routed.answering.version} failed on this request ({redact_error(error)}); the "
                           "error is counted against it.")

    def finish(self, texts: list[str], predictions: list[dict], routed: Routed, started: float) -> dict:
        """The answer's body, counted for the canary, logged, and scored aside by the shadow."""
        latency = 1000 * (time.perf_counter() - started)
        self.count(routed, latency, False)
        champion, challenger, answering = routed.champion, routed.challenger, routed.answering
        request_ids = new_request_ids(len(texts))
        context = self.log_context(routed)
        if self.log is not None:
            self.log.record(make_rows(texts, predictions, request_ids, context, latency,
                                      self.params.monitor.log_inputs))
        if self.shadow is not None and challenger is not None and routed.role == CHAMPION:
            self.shadow.submit(challenger, texts, request_ids, context)
        return {"predictions": predictions, "model_version": answering.version, "backend": answering.backend,
                "request_ids": request_ids, "route": routed.role, "champion_version": champion.version,
                "challenger_version": context["challenger_version"]}

    def log_context(self, routed: Routed) -> dict:
        """What each inference-log row of a routed request says of who answered it (OpenAI's routes too)."""
        answering, challenger = routed.answering, routed.challenger
        return {"source": "serve", "model_name": self.params.registry.model_name, "model_version": answering.version,
                "alias": self.params.registry.champion_alias, "backend": answering.backend, "role": routed.role,
                "champion_version": routed.champion.version,
                "challenger_version": challenger.version if challenger else None}

    def count(self, routed: Routed, latency: float, failed: bool) -> None:
        if not routed.live:
            return
        champion, challenger = routed.champion, routed.challenger
        reason = self.watch.add((champion.version, challenger.version), routed.role, latency, failed)
        if reason:
            self.stopped.add(challenger.version)  # share 0 from the next request on, in this process now
            print(f"lmforge serve: {reason}; version {challenger.version} answers no more requests.",
                  file=sys.stderr, flush=True)
            figures = self.watch.summary()
            threading.Thread(target=self.record_rollback, args=(challenger.version, champion.version, reason, figures),
                             name="canary-rollback", daemon=True).start()

    def record_rollback(self, version: str, champion: str, reason: str, figures: dict) -> None:
        from tasks.registry.champion import record_canary_rollback

        try:
            record_canary_rollback(self.champion.client, self.params, version, champion, reason, figures)
        except Exception as error:  # noqa: BLE001 - this process has stopped the canary whatever the registry says
            print(f"lmforge serve: the canary rollback of version {version} could not be recorded in the registry "
                  f"({redact_error(error)}); this server has stopped it, others have not.", file=sys.stderr, flush=True)

    def rolled_back(self, challenger: Served) -> bool:
        return challenger.version in self.stopped or CANARY_ROLLED_BACK in challenger.tags

    def status(self) -> dict:
        challenger = self.challenger.current if self.challenger else None
        return {"version": challenger.version if challenger else None,
                "backend": challenger.backend if challenger else None,
                "refused": self.challenger.refused if self.challenger else None,
                "shadow": self.shadow.status() if self.shadow else None,
                "canary_share": 0.0 if not challenger or self.rolled_back(challenger) else self.params.serve.canary.share,
                "canary_rolled_back": challenger is not None and self.rolled_back(challenger),
                "canary_figures": self.watch.summary()}

    def close(self) -> None:
        """At shutdown: the shadow's queue first (its rows reach the log), then each loaded version (its batcher, and
        the checked copy it was loaded from: uvicorn ends a SIGTERM'd process by the signal, so no atexit runs)."""
        if self.shadow is not None:
            self.shadow.close()
        for holder in (self.champion, self.challenger):
            if holder is not None:
                holder.replace(None)

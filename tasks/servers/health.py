"""Health probes: liveness (the process answers) and readiness (a model is loaded and answered its warm-up request),
on lmforge's paths and on KServe's open inference protocol (v2); MLflow's /ping stays as it was.

Ready means this process answers scoring requests now. Not ready while its first champion loads, or when none could
be loaded (a load that failed, a version the gate did not pass). A newer version loading, or failing to load, while
an older one answers leaves the process ready: the older one keeps answering."""

from __future__ import annotations

import os
import threading

LIVE, READY = ("/health/live", "/v2/health/live"), ("/health/ready", "/v2/health/ready")
PROBES = frozenset({*LIVE, *READY})


class FirstLoad:
    """The champion's first load, in a thread of its own: the port answers probes meanwhile."""

    def __init__(self, holder):
        self.holder, self.error, self.done = holder, None, threading.Event()

    def start(self) -> FirstLoad:
        threading.Thread(target=self.run, name="first-load", daemon=True).start()
        return self

    def run(self) -> None:
        from tasks.core.errors import redact_error

        try:
            self.holder.get()
        except Exception as error:  # noqa: BLE001 - said on /health/ready and /ping; the server stays up for probes
            self.error = redact_error(error)
        finally:
            self.done.set()


def readiness(holder, first: FirstLoad | None) -> tuple[int, dict]:
    """(status, body) of the readiness probe."""
    champion = holder.current
    if champion is not None:
        return 200, {"ready": True, "model_version": champion.version, "backend": champion.backend,
                     "warm_up_ms": champion.warm_up_ms, "worker": os.getpid()}
    if holder.refused is not None:
        reason = f"version {holder.refused['version']} is not served: {holder.refused['reason']}"
    elif first is not None and not first.done.is_set():
        reason = "the champion is loading"
    else:
        reason = (first.error if first is not None else None) or "no model is loaded"
    return 503, {"ready": False, "reason": reason, "worker": os.getpid()}


def add_health_routes(app, holder, answer, first: FirstLoad | None) -> None:
    loads = [first]

    def live():
        return answer(200, {"live": True, "worker": os.getpid()})

    def ready():
        status, body = readiness(holder, loads[-1])
        if status != 200 and (loads[-1] is None or loads[-1].done.is_set()) and holder.due():
            # Nothing answers and nobody asks for answers: the probe itself checks the alias again (in the
            # background, every serve.refresh_s), so a version the gate passes makes the process ready.
            loads[-1] = FirstLoad(holder).start()  # the last look only: a server refused for days keeps one
        return answer(status, body, body.get("model_version"))

    for path in LIVE:
        app.add_api_route(path, live, methods=["GET"])
    for path in READY:
        app.add_api_route(path, ready, methods=["GET"])

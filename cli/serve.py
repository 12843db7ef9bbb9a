"""`lmforge serve`: @champion (or a version, or another alias) over HTTP, in one process or several on one port."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.shared import (Backend, DebugOption, JsonOption, ParamsOption, SetOption, command, echo_json, note_old_spelling,
                        version_keys)
from tasks.registry.model_refs import FORMS

# No access log: its lines were filtered out at warning level anyway, but each request still paid for their
# arguments (the requests are counted in /metrics and logged in the inference log).
QUIET = {"log_level": "warning", "access_log": False}


def serve(port: Annotated[int | None, typer.Option(help="Port; default serve.port.")] = None,
          host: Annotated[str | None, typer.Option(help="Address; default serve.host (127.0.0.1).")] = None,
          backend: Annotated[Backend | None, typer.Option(help="What answers; default serve.backend.")] = None,
          model: Annotated[str | None, typer.Option(
              "--model", help=f"The version ({FORMS}); default @champion, followed live. A number serves that version "
                              "only (the gate's serving check does so); an alias is followed as @champion is.")] = None,
          model_version: Annotated[str | None, typer.Option("--model-version", hidden=True,
                                                            help="The older spelling of --model.")] = None,
          workers: Annotated[int | None, typer.Option(help="Server processes on the port; default serve.workers.")] = None,
          params: ParamsOption = Path("params.yaml"), set_: SetOption = None, as_json: JsonOption = False,
          debug: DebugOption = False) -> None:
    """Serve @champion over HTTP (MLflow's /invocations and /ping); a promotion or rollback is picked up live."""
    with command(debug):
        from tasks.core.config import load_params
        from tasks.registry.model_refs import parse_model_ref, require_own_model

        overrides = [*(set_ or []), *(f"serve.{key}={value}" for key, value in
                                      (("port", port), ("host", host), ("backend", backend and backend.value),
                                       ("workers", workers))
                                      if value is not None)]
        settings = load_params(params, overrides)
        if model_version:
            note_old_spelling("--model-version", "--model")
        ref = parse_model_ref(model or model_version, settings.registry.model_name, settings.registry.champion_alias)
        require_own_model(ref, settings.registry.model_name, "serve")
        model_version = ref.version
        if ref.alias != settings.registry.champion_alias and ref.alias:  # followed in @champion's place
            overrides.append(f"registry.champion_alias={ref.alias}")
            settings = load_params(params, overrides)
        import uvicorn

        from tasks.servers.auth import check_auth_ready

        where = settings.serve
        check_auth_ready(settings, where.host)  # beyond loopback without tokens: refused before any model loads
        which = "" if model_version else f" @{settings.registry.champion_alias}"
        if where.workers > 1:
            serve_workers(settings, params, overrides, model_version, which, as_json)
            return
        from tasks.serve import build_app, find_servable

        version = find_servable(settings, model_version)  # no champion: said now, before the port opens
        app, holder = build_app(settings, model_version)
        if model_version:  # a pinned version (the gate's serving check) that cannot load fails here, before the port
            holder.get()
        # @champion loads once the port is open: /health/ready answers 503 until it answered its warm-up request.
        announce(settings, version, where.backend, which, as_json, app.state.log is not None)
        uvicorn.run(app, host=where.host, port=where.port, **QUIET)


def announce(settings, version: str, backend: str, which: str, as_json: bool, logging: bool) -> None:
    """What the server answers with and where: a line for people, or one JSON line for a script that started it."""
    where = settings.serve
    url = f"http://{where.host}:{where.port}/invocations"
    if as_json:
        echo_json(version_keys(settings.registry.model_name, version) | {
            "following": which.strip().lstrip("@") or None, "backend": backend, "url": url,
            "workers": where.workers, "inference_log": settings.paths.inference_log if logging else None}, indent=None)
        return
    processes = f" with {where.workers} worker processes" if where.workers > 1 else ""
    what = f"version {version}, {backend}" if version else "no version yet: /ping answers 503 with why"
    typer.echo(f"serving {settings.registry.model_name}{which} ({what}){processes} on {url}; Ctrl-C stops it.")
    if logging:
        typer.echo(f"logging each answer to {settings.paths.inference_log}/ (monitor.log: false turns it off)")


def serve_workers(settings, params: Path, overrides: list[str], model_version: str | None, which: str,
                  as_json: bool = False) -> None:
    """serve.workers processes on one port (uvicorn's supervisor restarts one that dies), each with its own champion
    holder and inference-log writer, built from the same params file and overrides."""
    import json
    import os

    import uvicorn

    from tasks.serve import SERVE_SPEC, find_servable

    version = find_servable(settings, model_version)
    if settings.serve.metrics.enabled:  # before any worker imports prometheus_client: /metrics sums them all
        from tasks.telemetry.exposition import share_between_workers

        share_between_workers()
    os.environ[SERVE_SPEC] = json.dumps({"params": str(params.resolve()), "overrides": overrides,
                                         "pinned": model_version})
    where = settings.serve
    announce(settings, version, where.backend, which, as_json, settings.monitor.log)
    uvicorn.run("tasks.serve:create_app", factory=True, workers=where.workers, host=where.host, port=where.port,
                **QUIET)

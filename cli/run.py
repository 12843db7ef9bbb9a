"""`lmforge run`: the retrain flow on a params file, and its summary."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.shared import DebugOption, JsonOption, ParamsOption, SetOption, command, echo_json, ready_for_flow


def print_summary(summary) -> None:
    from tasks.core.config import SHOWN_METRICS

    metrics = "  ".join(f"{k.removeprefix('eval_')} {v:.4f}" for k, v in summary.metrics.items() if k in SHOWN_METRICS)
    steps = "  ".join(f"{name} {seconds:.1f}s" for name, seconds in summary.seconds.items())
    model = f"{summary.model_name} version {summary.model_version} @{summary.alias}" if summary.model_version else ""
    lines = [("outcome", summary.outcome), ("data version", summary.data_version), ("data push", summary.data_push),
             ("validation", summary.validation),
             ("tokens", summary.tokens), ("test metrics", metrics), ("model", model), ("promotion", summary.verdict),
             ("baseline", summary.baseline),
             ("champion", summary.champion if summary.champion in ("", "none") else f"{summary.model_name} version {summary.champion}"),
             ("exports", summary.exports),
             ("model card", f"{summary.card}  (lmforge card {summary.model_version})" if summary.card else ""),
             *(("warning", warning) for warning in summary.warnings),
             ("step times", steps), ("MLflow run", summary.run_id),
             ("MLflow UI", "lmforge ui  (or: mlflow ui --backend-store-uri "
                           f"{summary.tracking_uri} --host 127.0.0.1 --port 5000)")]
    typer.echo("\nlmforge run finished")
    for name, value in lines:
        if value:
            typer.echo(f"  {name:<13} {value}")


def print_unchanged(settings, as_json: bool = False) -> bool:
    """When a model was already trained on exactly these inputs, say so per step and skip the flow (seconds, not the
    tens of seconds a temporary Prefect server takes to start); False when the flow has to decide."""
    from tasks.data.freshness import describe_cached, find_unchanged_inputs

    found = find_unchanged_inputs(settings)
    if found is None:
        return False
    for name, reason in describe_cached(found):
        typer.echo(f"[cached] {name:<9} {reason}", err=True)
    if as_json:
        echo_json({"outcome": f"skipped: nothing changed since {found.version}", "data_version": found.data_version,
                   "model_name": settings.registry.model_name, "model_version": str(found.version)})
        return True
    typer.echo(f"\nlmforge run finished\n  {'outcome':<13} skipped: nothing changed since {found.version}\n"
               f"  {'data version':<13} {found.data_version}\n  {'model':<13} {settings.registry.model_name}\n"
               f"  {'note':<13} no flow run was started; --force trains anyway")
    return True


def run(params: ParamsOption = Path("params.yaml"), set_: SetOption = None, as_json: JsonOption = False,
        debug: DebugOption = False,
        force: Annotated[bool, typer.Option("--force", help="Train even if data and params are unchanged.")] = False) -> None:
    """Run the retraining flow on PARAMS (default params.yaml) and print a summary."""
    with command(debug):
        from tasks.core.config import load_params

        settings = load_params(params, set_)  # a bad key fails here, before Prefect starts
        from tasks.core.preflight import check_writable
        from tasks.registry.tracking import check_server

        check_writable(settings)  # and an output folder it cannot write,
        check_server(settings)  # and a tracking server that does not answer
        from tasks.hub.pins import pin_params

        settings = pin_params(settings)  # and a Hub model it cannot fetch (the flow checks it fits, with torch loaded)
        if not force and print_unchanged(settings, as_json):
            return
        from tasks.servers.prefect_api import start_prefect_api
        from tasks.core.runtime import stop_on_sigterm

        server = start_prefect_api()  # starts in the background while the imports below run on the other core
        import transformers.trainer  # noqa: F401 - what train imports anyway, imported while the server starts

        from flows.retrain import retrain

        ready_for_flow(server, debug)
        stop_on_sigterm()
        import contextlib

        # With --json, stdout holds the JSON alone: whatever a library prints during the run goes to stderr.
        quiet = contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()
        try:
            with quiet:
                summary = retrain(str(params), set_ or [], force)
        except KeyboardInterrupt as stop:
            typer.secho(f"error: the run was {stop or 'interrupted'}; its MLflow run is marked FAILED; the next run "
                        "resumes from its last checkpoint, if it saved one.", fg=typer.colors.RED, err=True)
            raise typer.Exit(130) from None
    if as_json:
        from dataclasses import asdict

        echo_json(asdict(summary))
        return
    print_summary(summary)

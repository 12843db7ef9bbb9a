"""What every `lmforge` command shares: options, set-up, and failures as one sentence."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from tasks.core.backend_names import BACKENDS
from tasks.kinds import KINDS

ParamsOption = Annotated[Path, typer.Option("--params", help="The params file.")]
SetOption = Annotated[list[str] | None, typer.Option("--set", help="Override one value: section.key=value (repeatable).")]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show library logs and full tracebacks.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout (docs/cli.md has its shape).")]


# What `predict --backend` can run: a choice list in --help, the same names as serve.backend.
Backend = Enum("Backend", {name.replace("-", "_"): name for name in BACKENDS}, type=str)
# The task kinds `init --task` can write (tasks.kinds.KINDS, light to import): a choice list too, so a typo exits 2.
Task = Enum("Task", {name: name for name in KINDS}, type=str)


def note_old_spelling(old: str, new: str) -> None:
    """An older spelling still works, and says once what replaced it."""
    typer.echo(f"note: {old} is now {new} (the same values).", err=True)


def version_keys(name: str, version: object) -> dict:
    """The keys every command's JSON names a registered version by (docs/cli.md): defined once, here."""
    return {"model_name": name, "model_version": None if version is None else str(version)}


def echo_json(value, indent: int | None = 1) -> None:
    """One JSON document on stdout; progress stays on stderr, so `| python -m json.tool` reads it. A server's or a
    watch's documents are one line each (indent None), a JSON line per event."""
    import json

    typer.echo(json.dumps(value, indent=indent, default=str))


def fail(error: BaseException, debug: bool) -> NoReturn:
    """One sentence on stderr and exit 1; the traceback only with --debug."""
    from tasks.core.errors import explain, redact

    if debug:
        raise error
    explained = explain(error)
    message = str(explained) if explained else \
        f"unexpected {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''} (rerun with --debug for details)"
    typer.secho(f"error: {redact(message)}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def prepare(debug: bool) -> None:
    import os

    from tasks.core.runtime import configure_runtime

    if not debug:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        # MLflow warns about hub model cards and licences, which an offline local model never has.
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")
        import warnings

        warnings.filterwarnings("ignore")
    configure_runtime()


@contextmanager
def command(debug: bool) -> Iterator[None]:
    """The frame of every command: set-up first, then any failure becomes one sentence and exit status 1."""
    prepare(debug)
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except BrokenPipeError:  # `lmforge params --params FILE | head`: the reader left; nothing failed
        import os
        import sys

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's exit flush must not raise again
        raise typer.Exit(0)
    except Exception as error:  # noqa: BLE001 - every failure becomes one sentence
        fail(error, debug)


def quiet_prefect_console() -> None:
    """Failures reach the user as one sentence from `fail`; Prefect's console would also print their tracebacks.

    Only the console handler is quietened: the run's logs still go to the Prefect API and its UI.
    """
    import logging

    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in list(logging.root.manager.loggerDict))]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, PrefectConsoleHandler):
                handler.setLevel(logging.CRITICAL)


def ready_for_flow(server, debug: bool) -> None:
    """What every command does once its flow is imported and before it runs it: Prefect's console quietened (unless
    --debug), its API answering, and traces started (when an OTLP endpoint is set: Prefect traces the flow's run and
    each step's task run)."""
    from tasks.servers.prefect_api import wait_for_api
    from tasks.telemetry.tracing import start_tracing

    if not debug:
        quiet_prefect_console()
    wait_for_api(server)
    start_tracing("lmforge")


def run_prefect_flow(load_flow, as_json: bool, debug: bool, *args, **kwargs):
    """Run a flow on Prefect's temporary API (or the configured one), started before the flow's imports; with --json
    the flow's own output goes to stderr, so stdout holds only the JSON. `load_flow` imports and returns the flow."""
    import contextlib
    import sys

    from tasks.servers.prefect_api import start_prefect_api

    server = start_prefect_api()
    flow = load_flow()
    ready_for_flow(server, debug)
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        return flow(*args, **kwargs)

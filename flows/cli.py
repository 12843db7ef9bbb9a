"""The `lmforge` command line. Heavy libraries are imported inside commands so that --help stays instant."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="lmforge: from a raw text dataset to a validated, versioned, trained, registered model.")

ParamsOption = Annotated[Path, typer.Option("--params", help="The params file.")]
SetOption = Annotated[list[str] | None, typer.Option("--set", help="Override one value: section.key=value (repeatable).")]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show library logs and full tracebacks.")]


def fail(error: BaseException, debug: bool) -> NoReturn:
    """One sentence on stderr and exit 1; the traceback only with --debug."""
    from tasks.errors import LmforgeError

    if debug:
        raise error
    message = str(error) if isinstance(error, LmforgeError) else \
        f"unexpected {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''} (rerun with --debug for details)"
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def prepare(debug: bool) -> None:
    import os

    from tasks.runtime import configure_runtime

    if not debug:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        # MLflow warns about hub model cards and licences, which an offline local model never has.
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")
        import warnings

        warnings.filterwarnings("ignore")
    configure_runtime()


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


def print_summary(summary) -> None:
    metrics = "  ".join(f"{k.removeprefix('eval_')} {v:.4f}" for k, v in summary.metrics.items()
                        if k in ("eval_accuracy", "eval_precision_macro", "eval_recall_macro", "eval_f1_macro"))
    steps = "  ".join(f"{name} {seconds:.1f}s" for name, seconds in summary.seconds.items())
    store = summary.tracking_uri
    lines = [("data version", summary.data_version), ("validation", summary.validation),
             ("tokens", summary.tokens), ("test metrics", metrics),
             ("model", f"{summary.model_name} version {summary.model_version} @{summary.alias}"),
             ("step times", steps), ("MLflow run", summary.run_id),
             ("MLflow UI", f"mlflow ui --backend-store-uri {store} --host 127.0.0.1 --port 5000")]
    typer.echo("\nlmforge run finished")
    for name, value in lines:
        typer.echo(f"  {name:<13} {value}")


@app.command()
def run(params: ParamsOption = Path("params.yaml"), set_: SetOption = None, debug: DebugOption = False) -> None:
    """Run the retraining flow on PARAMS (default params.yaml) and print a summary."""
    prepare(debug)
    try:
        from tasks.config import load_params

        load_params(params, set_)  # a bad key fails here, before Prefect starts
        from flows.retrain import retrain

        if not debug:
            quiet_prefect_console()
        summary = retrain(str(params), set_ or [])
    except Exception as error:  # noqa: BLE001 - every failure becomes one sentence
        fail(error, debug)
    print_summary(summary)


@app.command()
def predict(texts: Annotated[list[str] | None, typer.Argument(help="Texts to classify.")] = None,
            model: Annotated[str | None, typer.Option(help="Model URI; default models:/<registry.model_name>@<registry.alias>.")] = None,
            file: Annotated[Path | None, typer.Option(help="A CSV or JSONL file of texts.")] = None,
            text_column: Annotated[str | None, typer.Option(help="Column of --file; default data.text_column.")] = None,
            params: ParamsOption = Path("params.yaml"), set_: SetOption = None, debug: DebugOption = False) -> None:
    """Print label and score for each text (or each row of --file)."""
    prepare(debug)
    try:
        from tasks.config import load_params
        from tasks.errors import LmforgeError
        from tasks.predict import load_texts, predict_texts

        settings = load_params(params, set_)
        rows = list(texts or []) + (load_texts(file, text_column or settings.data.text_column) if file else [])
        if not rows:
            raise LmforgeError("nothing to predict: give texts as arguments or --file with a CSV/JSONL file.")
        uri = model or f"models:/{settings.registry.model_name}@{settings.registry.alias}"
        for text, (label, score) in zip(rows, predict_texts(settings, uri, rows)):
            typer.echo(f"{label}\t{score:.4f}\t{text}")
    except Exception as error:  # noqa: BLE001
        fail(error, debug)


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())

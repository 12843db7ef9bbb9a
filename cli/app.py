"""The `lmforge` command line. Heavy libraries are imported inside commands so that --help stays instant."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cli.approve import approve
from cli.card import card
from cli.loop import feedback, predict, score, watch
from cli.monitor import compare, monitor
from cli.params import init, params
from cli.registry import export, models, promote, rollback
from cli.reproduce import reproduce
from cli.run import run
from cli.serve import serve
from cli.servers import schedule, ui
from cli.sweep import sweep
from cli.token import token

app = typer.Typer(add_completion=True, pretty_exceptions_enable=False,
                  help="lmforge: from a raw text dataset to a validated, versioned, trained, registered model.")


def show_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"lmforge {version('lmforge')}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def start(context: typer.Context,
          _version: Annotated[bool, typer.Option("--version", callback=show_version, is_eager=True,
                                                 help="Print lmforge's version and exit.")] = False) -> None:
    """Bare `lmforge` prints this help and exits 0: asking what it does is not a mistake."""
    if context.invoked_subcommand is None:
        typer.echo(context.get_help())
        raise typer.Exit()


PANELS = {  # --help lists the commands by what they are for
    "Pipeline": (run, sweep, init, params, reproduce),
    "Registry": (models, promote, rollback, export, card, approve),
    "Serving": (serve, predict, score, compare),
    "Monitoring": (monitor, feedback, watch),
    "Set-up": (ui, schedule, token),
}
for panel, commands in PANELS.items():
    for function in commands:
        app.command(rich_help_panel=panel)(function)


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())

"""`lmforge card VERSION`: a registered version's model card, checked against the registry's records."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli_shared import DebugOption, JsonOption, ParamsOption, SetOption, command, echo_json

DISAGREES_EXIT = 3  # the card was printed; its figures do not match their records


def card(version: Annotated[str, typer.Argument(help="The version: a number, or @ALIAS (e.g. @champion).")] = "@champion",
         rebuild: Annotated[bool, typer.Option("--rebuild", help="Build the card again from the registry and log it "
                                                                 "(a version registered before cards existed has none).")] = False,
         params: ParamsOption = Path("params.yaml"), set_: SetOption = None, as_json: JsonOption = False,
         debug: DebugOption = False) -> None:
    """Print VERSION's model card (MODEL_CARD.md; --json its twin, every figure with its source) and check each figure
    against the record it came from: a card that disagrees is named line by line and exits 3."""
    with command(debug):
        from tasks.card import check_logged_card, publish_card, read_card
        from tasks.core.config import load_params
        from tasks.core.errors import LmforgeError

        settings = load_params(params, set_)
        found = None if rebuild else read_card(settings, version)
        if found is None:
            publish_card(settings, version, write_local=False)
            found = read_card(settings, version)
        if found is None:
            raise LmforgeError(f"the card of version {version} could not be read back from its MLflow run; check the "
                               "tracking store's artifact location.")
        record, markdown = found
        problems = check_logged_card(settings, version, record, markdown)
        if as_json:
            echo_json(record | {"check": {"holds": not problems, "problems": problems}})
        else:
            typer.echo(markdown)
        if problems:
            typer.echo(f"the card of {record['model']} version {record['version']} disagrees with its records "
                       f"({len(problems)}); `lmforge card {version} --rebuild` builds it again from them:", err=True)
            for problem in problems:
                typer.echo(f"  {problem}", err=True)
            raise typer.Exit(DISAGREES_EXIT)


COMMANDS = (card,)

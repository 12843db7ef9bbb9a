"""`lmforge card VERSION`: a registered version's model card, checked against the registry's records."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.contract import ANSWER_NO_EXIT
from cli.shared import DebugOption, JsonOption, ParamsOption, SetOption, command, echo_json, version_keys
from tasks.registry.model_refs import FORMS


def card(version: Annotated[str, typer.Argument(help=f"The version: {FORMS}.")] = "@champion",
         rebuild: Annotated[bool, typer.Option("--rebuild", help="Build the card again from the registry and log it "
                                                                 "(a version registered before cards existed has none).")] = False,
         params: ParamsOption = Path("params.yaml"), set_: SetOption = None, as_json: JsonOption = False,
         debug: DebugOption = False) -> None:
    """Print VERSION's model card (MODEL_CARD.md; --json its twin, every figure with its source) and check each figure
    against the record it came from: a card that disagrees is named line by line and exits 3."""
    with command(debug):
        from tasks.card import UnreadableCard, read_card, version_sources, write_card
        from tasks.core.config import load_params
        from tasks.model_card.build import build_card
        from tasks.model_card.check import check_card
        from tasks.model_card.render import render_card

        from tasks.registry.model_refs import parse_model_ref, require_own_model

        settings = load_params(params, set_)
        if rebuild:  # built with this params file's card settings and logged on the version: its own model only
            require_own_model(parse_model_ref(version, settings.registry.model_name), settings.registry.model_name,
                              "card --rebuild")
        sources = version_sources(settings, version)
        try:
            found = None if rebuild else read_card(sources)
        except UnreadableCard as damaged:  # shown as its records make it, not logged: the damage is the finding
            found, problems = False, [str(damaged)]
            record = build_card(sources)
            markdown = render_card(record)
        if found is None:  # built now from these very records: nothing to check it against but themselves
            record, markdown, _ = write_card(settings, sources, write_local=False)
            problems = []
        elif found:
            record, markdown = found
            problems = check_card(record, markdown, sources)
        if as_json:
            echo_json(version_keys(record["model"], record["version"]) | record
                      | {"check": {"holds": not problems, "problems": problems}})
        else:
            typer.echo(markdown)
        if problems:
            typer.echo(f"the card of {record['model']} version {record['version']} disagrees with its records "
                       f"({len(problems)}); `lmforge card {version} --rebuild` builds it again from them:", err=True)
            for problem in problems:
                typer.echo(f"  {problem}", err=True)
            raise typer.Exit(ANSWER_NO_EXIT)  # the card was printed; its figures do not match their records

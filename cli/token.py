"""`lmforge token NAME`: a bearer token for `lmforge serve` (serve.auth); only its digest is kept."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.shared import DebugOption, JsonOption, ParamsOption, SetOption, command, echo_json


def token(name: Annotated[str, typer.Argument(help="Who holds it: the name its requests are logged and checked by.")],
          scope: Annotated[list[str] | None, typer.Option(
              "--scope", help="What it may do beyond scoring: feedback (POST /feedback), metrics (GET "
                              "/metrics, for Prometheus). Repeatable.")] = None,
          file: Annotated[Path | None, typer.Option(
              "--file", help="The token store; default serve.auth.tokens_file.")] = None,
          params: ParamsOption = Path("params.yaml"), set_: SetOption = None, as_json: JsonOption = False,
          debug: DebugOption = False) -> None:
    """Make a bearer token for `lmforge serve`: printed once, its SHA-256 appended to the token store."""
    with command(debug):
        from tasks.core.config import load_params
        from tasks.core.errors import LmforgeError
        from tasks.servers.auth import SCOPES, add_token

        settings = load_params(params, set_ or []) if params.is_file() or set_ else None
        named = settings.serve.auth.tokens_file if settings else None
        store = file or (Path(named) if named else None)
        if store is None:
            raise LmforgeError("no token store named: pass --file serve-tokens.yaml, or set serve.auth.tokens_file.")
        unknown = sorted(set(scope or []) - set(SCOPES))
        if unknown:
            raise LmforgeError(f"--scope {unknown[0]} is not one of {', '.join(SCOPES)}.")
        made = add_token(store, name, list(scope or []))
        if as_json:
            echo_json({"name": name, "token": made, "file": str(store), "scopes": sorted({"score", *(scope or [])})})
            return
        typer.echo(made)
        typer.echo(f"token {name!r} added to {store} (only its SHA-256 is kept there); it is printed this once. "
                   "Callers send it as Authorization: Bearer TOKEN.", err=True)

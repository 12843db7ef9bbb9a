"""`lmforge approve RUN`: answer a flow run that waits for a person before @champion moves (promote.approval)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.shared import DebugOption, JsonOption, command, echo_json


def approve(run: Annotated[str, typer.Argument(help="The waiting flow run: its name (the run prints it) or id.")],
            reason: Annotated[str, typer.Option("--reason", help="Why: recorded with the decision.")],
            reject: Annotated[bool, typer.Option("--reject", help="Refuse: the challenger is rejected.")] = False,
            api: Annotated[str | None, typer.Option(
                "--api", help="The Prefect API the run waits on (it prints it); default PREFECT_API_URL.")] = None,
            as_json: JsonOption = False, debug: DebugOption = False) -> None:
    """Approve (or --reject) the challenger a paused flow run waits on; recorded with who, when and --reason."""
    with command(debug):
        import os

        from tasks.core.errors import LmforgeError
        from tasks.registry.champion import user

        if api:
            os.environ["PREFECT_API_URL"] = api
        if not os.environ.get("PREFECT_API_URL"):
            raise LmforgeError("no Prefect API to answer through: pass --api as the waiting run printed it, or set "
                               "PREFECT_API_URL (`lmforge ui`'s is http://127.0.0.1:4200/api).")
        from tasks.servers.prefect_api import answer_paused_run

        answer = {"approve": not reject, "reason": reason, "by": f"user {user()}"}
        name = answer_paused_run(run, answer)
        if as_json:
            echo_json({"flow_run": name, **answer})
            return
        typer.echo(f"flow run {name}: {'rejected' if reject else 'approved'} ({reason}); it goes on within seconds.")

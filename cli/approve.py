"""`lmforge approve RUN`: answer a flow run that waits for a person before @champion moves (promote.approval)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.shared import DebugOption, JsonOption, ParamsOption, SetOption, command, echo_json


def approve(run: Annotated[str, typer.Argument(help="The waiting flow run: its name (the run prints it) or id.")],
            reason: Annotated[str, typer.Option("--reason", help="Why: recorded with the decision.")],
            reject: Annotated[bool, typer.Option("--reject", help="Refuse: the challenger is rejected.")] = False,
            api: Annotated[str | None, typer.Option(
                "--api", help="The Prefect API the run waits on (it prints it); default PREFECT_API_URL.")] = None,
            params: ParamsOption = Path("params.yaml"), set_: SetOption = None,
            as_json: JsonOption = False, debug: DebugOption = False) -> None:
    """Approve (or --reject) the challenger a paused flow run waits on; recorded with the identity the tracking
    server authenticated (or this machine's account), when and --reason."""
    with command(debug):
        import os

        from tasks.core.config import load_params
        from tasks.core.errors import LmforgeError

        if api:
            os.environ["PREFECT_API_URL"] = api
        if not os.environ.get("PREFECT_API_URL"):
            raise LmforgeError("no Prefect API to answer through: pass --api as the waiting run printed it, or set "
                               "PREFECT_API_URL (`lmforge ui`'s is http://127.0.0.1:4200/api).")
        from tasks.registry.approvals import record_answer
        from tasks.servers.prefect_api import answer_paused_run, find_paused_run

        flow_run = find_paused_run(run)
        record = record_answer(load_params(params, set_), flow_run, not reject, reason)
        name = answer_paused_run(flow_run, {"approve": not reject, "reason": reason, "record": record["id"]})
        if as_json:
            echo_json({"flow_run": name, **record})
            return
        typer.echo(f"flow run {name}: {'rejected' if reject else 'approved'} by {record['by']} ({reason}); it goes on "
                   "within seconds.")

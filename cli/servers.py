"""`lmforge ui` (Prefect and MLflow web UIs) and `lmforge schedule` (the retrain flow as a scheduled deployment)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.shared import DebugOption, JsonOption, ParamsOption, SetOption, command, echo_json


def ui(prefect_port: Annotated[int, typer.Option(help="Port of the Prefect server and UI.")] = 4200,
       mlflow_port: Annotated[int, typer.Option(help="Port of the MLflow UI.")] = 5000,
       host: Annotated[str, typer.Option(help="Address both bind; beyond 127.0.0.1 their own authentication is on "
                                              "and its secrets are required (docs/operations.md, Security).")]
       = "127.0.0.1",
       params: ParamsOption = Path("params.yaml"), set_: SetOption = None, as_json: JsonOption = False,
       debug: DebugOption = False) -> None:
    """Start the Prefect UI and the MLflow UI on 127.0.0.1 (or --host, locked) over this project's stores; Ctrl-C
    stops both."""
    with command(debug):
        from tasks.core.config import load_params
        from tasks.servers.ui import serve_until_stopped, start_servers

        processes, urls = start_servers(load_params(params, set_), prefect_port, mlflow_port, host=host)
        if as_json:  # one line when both answer; the servers then run until Ctrl-C
            echo_json({key: urls[key] for key in ("prefect_ui", "mlflow_ui", "prefect_api_url")}, indent=None)
        else:
            typer.echo(f"Prefect UI  {urls['prefect_ui']}\nMLflow UI   {urls['mlflow_ui']}\n"
                       f"lmforge runs in this project now report to {urls['prefect_api_url']}; "
                       f"elsewhere: export PREFECT_API_URL={urls['prefect_api_url']}\nCtrl-C stops both.", color=False)
        serve_until_stopped(processes)
        typer.echo("stopped the Prefect and MLflow servers.", err=as_json)


def schedule(cron: Annotated[str | None, typer.Option(help='Cron schedule, e.g. "0 3 * * *".')] = None,
             interval: Annotated[float | None, typer.Option(help="Run every INTERVAL seconds.")] = None,
             name: Annotated[str | None, typer.Option(help="Deployment name; default schedule.name.")] = None,
             params: ParamsOption = Path("params.yaml"), set_: SetOption = None, as_json: JsonOption = False,
             debug: DebugOption = False) -> None:
    """Serve the retrain flow as a Prefect deployment on a schedule (needs a Prefect server: `lmforge ui`)."""
    with command(debug):
        import os

        from tasks.core.config import load_params
        from tasks.core.errors import LmforgeError

        settings = load_params(params, set_)
        from tasks.servers.deployments import check_undeclared

        deployment = name or settings.schedule.name
        check_undeclared(deployment)
        if (cron is None) == (interval is None):
            raise LmforgeError('give exactly one of --cron "0 3 * * *" or --interval SECONDS.')
        if not os.environ.get("PREFECT_API_URL"):
            raise LmforgeError("schedules need a Prefect server: start `lmforge ui` in this project (or `prefect server "
                               "start`, then export PREFECT_API_URL=http://127.0.0.1:4200/api) and run this again.")
        check_prefect_answers(os.environ["PREFECT_API_URL"])
        from flows.retrain import retrain

        if as_json:
            echo_json({"deployment": f"retrain/{deployment}", "cron": cron, "interval_s": interval,
                       "prefect_api_url": os.environ["PREFECT_API_URL"]}, indent=None)
        else:
            typer.echo(f"serving deployment retrain/{deployment} ({f'cron {cron}' if cron else f'every {interval:g} s'})"
                       f" on {os.environ['PREFECT_API_URL']}; Ctrl-C stops it.")
        try:
            serve_deployment(retrain, deployment, cron, interval, {"params_path": str(params), "overrides": set_ or []})
        except BaseException as error:
            raise explain_lost_server(error, os.environ["PREFECT_API_URL"]) or error


SHUTDOWN_GRACE_S = 30.0


def serve_deployment(flow, name: str, cron: str | None, interval: float | None, parameters: dict) -> None:
    """What flow.serve does, through Prefect's Runner, with Ctrl-C bounded in time. The first Ctrl-C cancels the
    runner as asyncio.run would (the runner pauses the deployment on its way out); a second exits at once; a process
    still alive SHUTDOWN_GRACE_S after the first prints every thread's stack, for the record, and exits 130. Why: in
    two fresh-clone test runs (11-29, 11-30) `lmforge schedule` outlived Ctrl-C by more than 60 s while its server
    answered; 7 tries by hand stopped in 3-4 s, so the cause is not known."""
    import asyncio
    import signal
    import threading

    from prefect.deployments.runner import EntrypointType
    from prefect.exceptions import TerminationSignal
    from prefect.runner import Runner

    runner = Runner(name=name, pause_on_shutdown=True)
    # concurrency_limit=1: the server never starts a second run of this deployment while one is going.
    runner.add_flow(flow, name=name, cron=cron, interval=interval, concurrency_limit=1, tags=["lmforge"],
                    parameters=parameters, description="lmforge scheduled retraining",
                    entrypoint_type=EntrypointType.MODULE_PATH)

    stopping = threading.Event()  # set by the first Ctrl-C

    async def serve() -> None:
        main = asyncio.current_task()
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, lambda: interrupt(main, stopping))
        await runner.start()

    try:
        asyncio.run(serve())
    except TerminationSignal:
        pass  # SIGTERM: the runner has stopped
    except asyncio.CancelledError:
        if not stopping.is_set():
            raise  # not our Ctrl-C: let it be seen


def interrupt(main, stopping) -> None:
    """One Ctrl-C: `stopping` (a threading.Event) is set by the first; `main` is the task running the runner."""
    import faulthandler
    import os
    import sys
    import threading
    import time

    if stopping.is_set():
        os._exit(130)  # a second Ctrl-C
    stopping.set()

    def expire() -> None:
        time.sleep(SHUTDOWN_GRACE_S)
        print(f"lmforge schedule: still running {SHUTDOWN_GRACE_S:.0f} s after Ctrl-C; exiting now. Its threads were:",
              file=sys.stderr, flush=True)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        os._exit(130)

    threading.Thread(target=expire, name="lmforge-interrupt-deadline", daemon=True).start()
    main.cancel()


def check_prefect_answers(api_url: str) -> None:
    import urllib.request

    from tasks.core.errors import LmforgeError

    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=10):
            return
    except OSError as error:
        raise LmforgeError(f"the Prefect server at {api_url} does not answer ({getattr(error, 'reason', error)}); start "
                           "it (`lmforge ui`, or `prefect server start`) or fix PREFECT_API_URL, then run this again.") from None


def explain_lost_server(error: BaseException, api_url: str):
    """Prefect's runner ends when its server stops answering: a connection error, or after 3 failed polls in a row
    "exceeded error threshold" (either maybe inside an ExceptionGroup). One sentence and exit 1, so that a supervisor
    starts `lmforge schedule` again once the server is back."""
    import httpx

    from tasks.core.errors import LmforgeError

    pending, found = [error], False
    while pending and not found:
        item = pending.pop()
        found = isinstance(item, httpx.TransportError) or "exceeded error threshold" in str(item)
        pending += [*getattr(item, "exceptions", ()), *(e for e in (item.__cause__, item.__context__) if e)]
    if not found:
        return None
    return LmforgeError(f"the Prefect server at {api_url} stopped answering, so the deployment is no longer served; "
                        "run `lmforge schedule` under a supervisor that restarts it (systemd Restart=on-failure, a "
                        "container restart policy), and it serves again once the server is back.")

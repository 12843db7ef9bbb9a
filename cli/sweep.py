"""`lmforge sweep`: the sweep flow on prefect-dask's DaskTaskRunner, a local cluster unless --dask-address names one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.shared import DebugOption, JsonOption, ParamsOption, SetOption, command, echo_json, ready_for_flow


def sweep(params: ParamsOption = Path("params.yaml"), set_: SetOption = None, as_json: JsonOption = False,
          debug: DebugOption = False,
          trials: Annotated[int | None, typer.Option(help="Trials to train (sweep.trials).")] = None,
          workers: Annotated[int | None, typer.Option(help="Trials at once: local Dask workers (sweep.workers).")] = None,
          dask_address: Annotated[str | None, typer.Option(help="A running Dask scheduler (tcp://host:8786) "
                                                                "instead of a local cluster.")] = None) -> None:
    """Search params (sweep.space) with Optuna; trials train on Dask workers as Prefect tasks; the best by its
    validation score is evaluated on test, registered as challenger and goes through promotion."""
    with command(debug):
        from tasks.core.config import load_params

        overrides = [*(set_ or []), *([f"sweep.trials={trials}"] if trials else []),
                     *([f"sweep.workers={workers}"] if workers else [])]
        settings = load_params(params, overrides)
        from tasks.core.preflight import check_writable
        from tasks.servers.prefect_api import start_prefect_api
        from tasks.core.runtime import stop_on_sigterm
        from tasks.registry.tracking import check_server

        check_writable(settings)
        check_server(settings)
        server = start_prefect_api()
        from prefect_dask import DaskTaskRunner

        from flows.sweep import sweep as sweep_flow

        ready_for_flow(server, debug)
        stop_on_sigterm()
        # One thread per worker process: each trial's torch sets its own share of the cores (train.threads).
        runner = DaskTaskRunner(address=dask_address) if dask_address else DaskTaskRunner(
            cluster_kwargs={"n_workers": settings.sweep.workers, "threads_per_worker": 1, "processes": True,
                            "dashboard_address": None})
        import contextlib
        import sys

        # With --json, stdout holds the JSON alone, as for `lmforge run --json`.
        quiet = contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()
        try:
            with quiet:
                summary = sweep_flow.with_options(task_runner=runner)(str(params), overrides)
        except KeyboardInterrupt:
            typer.secho("error: the sweep was interrupted; its MLflow runs are marked FAILED.", fg=typer.colors.RED,
                        err=True)
            raise typer.Exit(130) from None
    if as_json:
        from dataclasses import asdict

        echo_json(asdict(summary))
        return
    typer.echo(f"\nlmforge sweep finished: {summary.sweep_id} (MLflow run {summary.parent_run_id})")
    for result in summary.trials:
        mark = "*" if summary.best and result.number == summary.best.number else " "
        typer.echo(f" {mark} {result.summary()}")
    metrics = "  ".join(f"{k.removeprefix('eval_')} {v:.4f}" for k, v in summary.metrics.items()
                        if k.removeprefix("eval_") in ("accuracy", "f1_macro", "bleu", "chrf"))
    typer.echo(f"  best trial    {summary.best.number}: test {metrics}\n  model         {summary.model}\n"
               f"  promotion     {summary.verdict}")

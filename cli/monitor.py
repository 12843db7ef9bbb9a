"""`lmforge monitor`: the monitor flow, its verdict as a table or as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.contract import ANSWER_NO_EXIT
from cli.shared import DebugOption, JsonOption, ParamsOption, SetOption, command, echo_json, run_prefect_flow


def monitor(params: ParamsOption = Path("params.yaml"), set_: SetOption = None, as_json: JsonOption = False,
            debug: DebugOption = False,
            hours: Annotated[float | None, typer.Option(help="Window: the last HOURS of logged requests "
                                                            "(monitor.window_hours).")] = None,
            file: Annotated[Path | None, typer.Option("--file", help="Compare a new data file (the data.* input "
                                                                     "columns) instead of logged requests.")] = None) -> None:
    """Compare what @champion answered lately (the inference log) with its test split: input and prediction drift,
    logged to MLflow's monitoring experiment and sent as a Prefect event (lmforge.monitor.drift or .ok)."""
    with command(debug):
        from tasks.core.config import load_params

        overrides = [*(set_ or []), *([f"monitor.window_hours={hours}"] if hours else [])]
        settings = load_params(params, overrides)
        from tasks.registry.tracking import check_server

        check_server(settings)

        def load_flow():
            from flows.monitor import monitor_flow

            return monitor_flow

        report = run_prefect_flow(load_flow, as_json, debug, str(params), overrides, str(file) if file else None)
    if as_json:
        echo_json(report)
    else:
        print_report(report, settings.monitor.experiment)
    if report["drift"]:
        raise typer.Exit(ANSWER_NO_EXIT)


def print_report(report: dict, experiment: str) -> None:
    # The message starts with the verdict ("drift: ...", "no drift: ...", or why there was nothing to judge).
    typer.echo(f"{report['model_name']} version {report['model_version']}: {report['rows']} requests, "
               f"{report['message'].replace('drift:', 'DRIFT:', 1) if report['drift'] else report['message']}")
    for name, result in report["tests"].items():
        typer.echo(f"  {name:<22} statistic {result['statistic']:.4g}  p {result['p_value']:.4g}"
                   + ("  drift" if result["drift"] else ""))
    if report["run_id"]:
        typer.echo(f"  MLflow run    {report['run_id']} (experiment {experiment})")


def compare(params: ParamsOption = Path("params.yaml"), set_: SetOption = None, as_json: JsonOption = False,
            debug: DebugOption = False,
            hours: Annotated[float | None, typer.Option(help="Window: the last HOURS of logged requests "
                                                            "(monitor.window_hours).")] = None) -> None:
    """The challenger against the champion on live traffic (serve.shadow, serve.canary): agreement, both latencies,
    and on requests whose labels came back both models' metric with promote's paired test."""
    with command(debug):
        from tasks.core.config import load_params
        from tasks.kinds import get_kind
        from tasks.monitoring.compare import compare_traffic

        settings = load_params(params, set_ or [])
        report = compare_traffic(settings, get_kind(settings.task), hours or settings.monitor.window_hours)
    if as_json:
        echo_json(report)
        return
    from tasks.monitoring.compare import describe_traffic

    typer.echo(f"{report['model_name']}, the last {report['window_hours']:g} hours of the inference log:")
    typer.echo(describe_traffic(report) or "  no shadow or canary answers in this window: serve with --set "
               "serve.shadow=true or --set serve.canary.share=0.1 while a challenger is registered.")

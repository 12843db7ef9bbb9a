"""`lmforge reproduce`: rebuild a registered version from its lineage and say whether it comes out the same."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.contract import ANSWER_NO_EXIT
from cli.shared import DebugOption, JsonOption, ParamsOption, SetOption, command, echo_json, version_keys
from tasks.registry.model_refs import FORMS

# The classification default's macro F1 over rebuilds with 1 to 5 threads spread by 0.045 (0.951 to 0.996;
# bench/README.md): what another machine's arithmetic alone moved a metric by.
DEFAULT_TOLERANCE = 0.05


def print_result(result: dict) -> None:
    head = f"{result['model']} version {result['version']}: {result['verdict']}"
    typer.echo(head + (f" at {result['stage']}: {result['detail']}" if result.get("stage") else ""))
    compared = ", ".join(f"{count} {name}" for name, count in result.get("compared", {}).items())
    original = result.get("original_seconds")
    # The MLflow run spans the flow's steps, not the command's start (Prefect, imports): bench/determinism.py compares
    # whole commands.
    ratio = f" (the original's MLflow run: {original:.0f} s)" if original else ""
    lines = [("rebuilt from", f"commit {result['commit'][:12]}, data version {result['data_version']}, "
                              f"{result['threads'] or 'default'} threads, {result['steps']} steps"),
             ("compared", compared), ("time", f"{result['seconds']:.0f} s{ratio}"),
             ("what-if", result["what_if"]),
             ("determinism", (result.get("determinism") or {}).get("first_difference", "")),
             ("log", result.get("log", ""))]
    for name, value in lines:
        if value:
            typer.echo(f"  {name:<13} {value}")


def reproduce(uri: Annotated[str, typer.Argument(help=f"The version: {FORMS}.")],
              check_determinism: Annotated[bool, typer.Option(
                  "--check-determinism", help="Also train a second time with another thread count and hash seed, "
                                              "and name the first artifact that differs between the two.")] = False,
              change: Annotated[list[str] | None, typer.Option(
                  "--change", help="What-if: rebuild with section.key=value changed (repeatable); not recorded.")] = None,
              tolerance: Annotated[float, typer.Option(
                  help="Largest metric gap accepted where the same bits cannot be had (another CPU, GPU, DDP).")] = DEFAULT_TOLERANCE,
              keep: Annotated[bool, typer.Option("--keep", help="Keep the scratch folder and its log.")] = False,
              params: ParamsOption = Path("params.yaml"), set_: SetOption = None, as_json: JsonOption = False,
              debug: DebugOption = False) -> None:
    """Rebuild a registered version from its commit, data version and params in a scratch folder; compare tokenizer,
    weights, predictions and metrics; answer identical, within_tolerance or differs (exit 3) and tag the version."""
    with command(debug):
        from tasks.core.config import load_params
        from tasks.rebuild.reproduce import reproduce_version

        result = reproduce_version(load_params(params, set_), uri, tolerance, check_determinism, change, keep)
        echo_json(version_keys(result["model"], result["version"]) | result) if as_json else print_result(result)
        if result["verdict"] == "differs":
            raise typer.Exit(ANSWER_NO_EXIT)

"""`lmforge init` and `lmforge params`: write a minimal params file for new data, and show any params file as lmforge
reads it, each value with its origin."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.shared import DebugOption, JsonOption, SetOption, Task, command, echo_json, note_old_spelling


def init(name: Annotated[str, typer.Argument(help="The params file to write (NAME.yaml).")],
         task: Annotated[Task, typer.Option(help="The task kind.")] = Task.classification,
         source: Annotated[str, typer.Option(help="The data: a CSV/JSONL/Parquet/.txt file, a folder of them, a Hub "
                                                  "dataset (hf://datasets/ORG/NAME[@REVISION]), a URL, or "
                                                  "builtin:NAME.")] = "builtin:reviews",
         force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
         as_json: JsonOption = False, debug: DebugOption = False) -> None:
    """Write a commented, minimal params file for a dataset and list it as a pipeline of the project."""
    with command(debug):
        from tasks.core.config import load_params
        from tasks.data.pipelines import PIPELINES_FILE, sync_pipeline
        from tasks.scaffold import write_params_file

        file = write_params_file(name, task.value, source, force)
        try:
            pipeline = sync_pipeline(load_params(file))
        except Exception:
            file.unlink()  # never leave a params file that cannot run
            raise
        if as_json:
            echo_json({"params_file": str(file), "pipeline": pipeline, "pipelines_file": PIPELINES_FILE})
            return
        typer.echo(f"wrote {file} (pipeline {pipeline} in {PIPELINES_FILE}); check its columns, then:\n"
                   f"  lmforge params --params {file}      # every value and where it comes from\n"
                   f"  lmforge run --params {file}")


def params(file: Annotated[Path | None, typer.Argument(help="The older spelling of --params.", hidden=True,
                                                       show_default=False)] = None,
           params_file: Annotated[Path, typer.Option("--params", help="The params file.")] = Path("params.yaml"),
           set_: SetOption = None, as_json: JsonOption = False, debug: DebugOption = False) -> None:
    """Print every value of a params file as lmforge reads it, and where it comes from: the file, --set, the task
    kind's or the file name's default, or the schema's default."""
    with command(debug):
        from tasks.core.resolved import describe_params

        if file is not None:
            note_old_spelling(f"lmforge params {file}", f"lmforge params --params {file}")
        rows = describe_params(file or params_file, set_)
        if as_json:
            echo_json([{"key": key, "value": value, "origin": origin} for key, value, origin in rows])
            return
        import yaml

        width = max(len(key) for key, _, _ in rows) + 2
        for key, value, origin in rows:
            shown = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("\n...")
            typer.echo(f"{key:<{width}}{shown:<34} # {origin}")

"""`lmforge init`: a commented, minimal params file for a new dataset. It sets only what a user must decide (the task,
the source and its columns, a model); everything else comes from the task kind's defaults, which `lmforge params`
shows with their origin."""

from __future__ import annotations

from pathlib import Path

from tasks.core.config import BUILTIN_TASKS
from tasks.core.errors import LmforgeError

def params_file_name(name: str) -> Path:
    path = Path(name)
    return path if path.suffix in (".yaml", ".yml") else path.with_name(path.name + ".yaml")


def describe_columns(task: str, found: list[str] | None) -> list[str]:
    lines = []
    from tasks.kinds import get_kind

    for key, column, meaning in get_kind(task).INIT_COLUMNS:
        hint = f"# {meaning}"
        if found is not None and column is not None and column not in found:
            hint += f"; the source has no {column!r}: name one of {', '.join(map(repr, found))}"
        lines.append(f"  {key}: {column if column is not None else 'null'}".ljust(32) + hint)
    return lines


def render_params(file: Path, task: str, source: str, found: list[str] | None) -> str:
    from tasks.kinds import get_kind

    kind = get_kind(task)
    from tasks.data.sources import is_text_source

    text_source = is_text_source(source)
    data = [f"  source: {source}"]
    if kind.READS_DOCUMENTS and text_source:
        data.append("  documents: auto".ljust(32) + "# rows of a .txt file: auto, file, blank_line (paragraphs) or line")
    else:
        data += describe_columns(task, found)
    return "\n".join([
        f"# lmforge: `lmforge run --params {file.as_posix()}`. This file holds only what differs from the defaults of",
        f"# task {task}; `lmforge params {file.as_posix()}` prints every value with where it comes from.",
        f"task: {task}",
        "data:",
        *data,
        "  # splits: {validation: 0.1, test: 0.15}   # shares of the training rows, or files of a source folder (a Hub "
        "dataset's split names)",
        "  # group_column: null          # rows of one group (a document, a user) never straddle splits",
        "model:",
        kind.INIT_MODEL,
        "train:",
        "  max_steps: -1                 # stop after this many optimizer steps; -1: train.epochs",
        "# Outputs go to data/<file name>/ and metrics/<file name>/, the model is registered as lmforge-<file name>.",
        "",
    ])


def write_params_file(name: str, task: str, source: str, force: bool = False) -> Path:
    """Write NAME(.yaml) for `task` on `source` (a path or builtin:NAME); returns the file."""
    from tasks.data.sources import peek_columns

    file = params_file_name(name)
    from tasks.kinds import KINDS

    if KINDS.get(task) is None:
        raise LmforgeError(f"--task {task}: no such task kind; use one of {', '.join(KINDS)}.")
    if file.exists() and not force:
        raise LmforgeError(f"{file}: exists already; choose another name, or --force to overwrite it.")
    from tasks.hub.names import check_source, is_remote

    if is_remote(source):
        try:
            check_source(source)  # a name is checked here; what it holds is fetched by the first run
        except ValueError as error:
            raise LmforgeError(f"--source {source}: {error}.") from None
    elif source not in BUILTIN_TASKS and not Path(source).exists():
        raise LmforgeError(f"--source {source}: no such file or folder; give the path of your data (CSV, JSONL, "
                           "Parquet, .txt, or a folder of them), a Hub dataset (hf://datasets/ORG/NAME), a URL or a "
                           "builtin: dataset.")
    found = None if source in BUILTIN_TASKS or is_remote(source) else peek_columns(source)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(render_params(file, task, source, found), encoding="utf-8")
    return file

"""The project's pipelines: each params file is one DVC pipeline, listed in pipelines.yaml, which dvc.yaml reads
(`vars`) and repeats each stage for (`dvc repro promote@NAME`). lmforge keeps the list itself: a params file it has
not seen is added when it runs (or when `lmforge init` writes it), and an entry follows its file's paths and source,
so nobody edits dvc.yaml or this list by hand."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from tasks.core.config import BUILTIN_TASKS, Params, load_params
from tasks.core.defaults import pipeline_name
from tasks.core.errors import LmforgeError

PIPELINES_FILE = "pipelines.yaml"
HEADER = """\
# The project's pipelines, one per params file: dvc.yaml repeats each stage for each (`dvc repro promote@NAME`).
# lmforge writes this file: running a params file it has not seen (`lmforge run --params FILE`, `lmforge init`)
# adds it, and each entry follows its file's paths and data.source. Change the params file, not this list.
"""
OUTPUTS = ("dataset", "validation", "tokenized", "model", "metrics", "registered", "promotion", "export")
BUILTIN_INPUTS = "data/raw"  # what a built-in dataset's ingest depends on: nothing but the code


def read_pipelines(root: str | Path = ".") -> dict[str, dict]:
    """Name: entry (params, resolved, inputs and the output paths) for every pipeline of the project."""
    path = Path(root) / PIPELINES_FILE
    if not path.is_file():
        return {}
    found = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("pipelines")
    if not isinstance(found, dict):
        raise LmforgeError(f"{path}: has no pipelines: mapping; delete the file and lmforge writes it again.")
    return found


def write_pipelines(pipelines: dict[str, dict], root: str | Path = ".") -> None:
    """One line per pipeline, so that a new params file is a one-line change in git."""
    lines = [f"  {name}: " + yaml.safe_dump(entry, default_flow_style=True, width=10**6, sort_keys=False).strip()
             for name, entry in pipelines.items()]
    target = Path(root) / PIPELINES_FILE
    temporary = target.with_suffix(".tmp")
    temporary.write_text(HEADER + "pipelines:\n" + "\n".join(lines) + "\n", encoding="utf-8")
    temporary.replace(target)


def relative(path: str | Path, root: Path) -> str:
    """A path as dvc.yaml should name it: relative to the project where it can be (also ../ for data beside it).
    Lexical, as params' paths are checked: a symlinked data folder keeps the name the params file gives it."""
    absolute = Path(os.path.normpath(root / path)) if not Path(path).is_absolute() else Path(path)
    try:
        return Path(os.path.relpath(absolute, root)).as_posix()
    except ValueError:  # another drive
        return absolute.as_posix()


def pipeline_entry(params: Params, root: Path) -> dict:
    """What dvc.yaml needs of a params file: the file, its resolved copy, what ingest reads and every output."""
    from tasks.core.resolved import resolved_path
    from tasks.hub.names import is_remote
    from tasks.hub.sources import source_folder

    source = params.data.source
    # A Hub dataset or URL is read from the folder it is fetched into: that folder is what DVC tracks.
    inputs = BUILTIN_INPUTS if source in BUILTIN_TASKS else source_folder(params) if is_remote(source) else source
    entry = {"params": relative(params.source_file, root), "resolved": relative(resolved_path(params), root),
             "inputs": relative(inputs, root),
             "feedback": relative(params.paths.feedback, root)}
    return entry | {key: relative(getattr(params.paths, key), root) for key in OUTPUTS}


def find_pipeline(params: Params, root: str | Path = ".") -> str | None:
    """The name of the pipeline of this params file, or None when the project does not list it yet."""
    root = Path(root).resolve()
    file = relative(params.source_file, root)
    return next((name for name, entry in read_pipelines(root).items() if entry.get("params") == file), None)


def free_name(wanted: str, taken: set[str]) -> str:
    name, number = wanted, 2
    while name in taken:
        name, number = f"{wanted}-{number}", number + 1
    return name


def sync_pipeline(params: Params, root: str | Path = ".") -> str:
    """List this params file's pipeline as the file now reads (added, or its entry brought up to date) and write
    its resolved params; returns the pipeline's name. Run with --set values that move an output, the run cannot be
    one of the file's pipeline runs, which is said in one sentence."""
    from tasks.core.resolved import write_resolved
    from tasks.hub.pins import pin_params

    root = Path(root).resolve()
    own = load_params(params.source_file)  # the file's own values: --set makes no pipeline of its own
    # An entry whose params file is gone can never run again; DVC would trip over it.
    pipelines = {name: item for name, item in read_pipelines(root).items() if (root / item["params"]).is_file()}
    entry = pipeline_entry(own, root)
    name = find_pipeline(own, root)
    clash = [other for other, item in pipelines.items() if other != name and
             {item.get(key) for key in OUTPUTS} & {entry[key] for key in OUTPUTS}]
    if clash:
        raise LmforgeError(f"{params.source_file}: writes {entry['dataset']} (or another output) that the params file "
                           f"{pipelines[clash[0]]['params']} writes too; give it paths of its own (or leave paths out: "
                           "they default to data/<file name>/).")
    if name is None:
        from tasks.core.runtime import say

        name = free_name(pipeline_name(own.source_file), set(pipelines))
        say(f"[dvc] {entry['params']} is now the pipeline {name} in {PIPELINES_FILE} (dvc repro promote@{name}); "
            "commit the two files together")
    if pipelines.get(name) != entry or pipelines != read_pipelines(root):
        pipelines[name] = entry
        write_pipelines(pipelines, root)
    write_resolved(own.source_file, pin_params(own, params.hub_pins))  # the run's own resolutions, not asked again
    for key in OUTPUTS:
        if relative(getattr(params.paths, key), root) != entry[key]:
            raise LmforgeError(f"--set paths.{key}: the run would write {getattr(params.paths, key)}, but the "
                               f"pipeline of {params.source_file} writes {entry[key]}; change it in the file instead.")
    return name

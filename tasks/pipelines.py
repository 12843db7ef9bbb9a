"""The project's pipelines: each params file is one DVC pipeline in dvc.yaml (`vars: pipelines`), named there with
where its outputs go. The flow versions data through the stages of its own pipeline, so the two drivers agree."""

from __future__ import annotations

from pathlib import Path

import yaml

from tasks.config import BUILTIN_TASKS, Params
from tasks.errors import LmforgeError

HOW = "list it in dvc.yaml under vars: pipelines (params, data, metrics, inputs)"


def read_pipelines(root: str | Path = ".") -> dict[str, dict]:
    """Name: {params, data, metrics, inputs} for every pipeline dvc.yaml declares."""
    path = Path(root) / "dvc.yaml"
    if not path.is_file():
        raise LmforgeError(f"{Path(root).resolve()}: no dvc.yaml; run lmforge from the project root.")
    for entry in yaml.safe_load(path.read_text()).get("vars", []):
        if isinstance(entry, dict) and "pipelines" in entry:
            return entry["pipelines"]
    raise LmforgeError(f"{path}: has no vars: pipelines list; restore it from the project's dvc.yaml.")


def same_path(a: str | Path, b: str | Path, root: Path) -> bool:
    return (root / a).resolve() == (root / b).resolve()


def expected_paths(pipeline: dict) -> dict[str, str]:
    data, metrics = pipeline["data"], pipeline["metrics"]
    return {"dataset": f"{data}/dataset", "validation": f"{data}/validation", "tokenized": f"{data}/tokenized",
            "model": f"{data}/model", "metrics": metrics, "registered": f"{data}/registered.json",
            "promotion": f"{data}/promotion.json"}


def find_pipeline(params: Params, root: str | Path = ".", check_source: bool = False) -> str:
    """The name of the pipeline of this params file; one sentence when dvc.yaml and the file disagree."""
    root = Path(root).resolve()
    file = params.source_file
    pipelines = read_pipelines(root)
    found = [name for name, item in pipelines.items() if same_path(item["params"], file, root)]
    by_output = [name for name, item in pipelines.items()
                 if same_path(expected_paths(item)["dataset"], params.paths.dataset, root)]
    if not found:
        if by_output:  # an unlisted params file may still write a listed pipeline's outputs (a copy, a test project)
            found = by_output
        else:
            raise LmforgeError(f"{file}: no pipeline of dvc.yaml reads this params file or writes "
                               f"{params.paths.dataset}; {HOW}.")
    name = found[0]
    pipeline = pipelines[name]
    for key, want in expected_paths(pipeline).items():
        if not same_path(getattr(params.paths, key), want, root):
            raise LmforgeError(f"{file}: paths.{key} is {getattr(params.paths, key)}, but dvc.yaml's pipeline {name} "
                               f"writes {want}; make the two agree.")
    source = params.data.source
    inputs = (root / pipeline["inputs"]).resolve()
    if check_source and source not in BUILTIN_TASKS and not (
            (root / source).resolve() == inputs or inputs in (root / source).resolve().parents):
        raise LmforgeError(f"{file}: data.source {source} lies outside {pipeline['inputs']}, which dvc.yaml's "
                           f"pipeline {name} watches; make inputs hold the source.")
    return name

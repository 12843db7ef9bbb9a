"""A params file as lmforge reads it, every key filled in (the file, then the task kind's and the file name's
defaults, then the schema's). DVC's stages read their params from this resolved copy, so that a params file holds
only what its user changes and still runs under `dvc repro`; `lmforge params --params FILE` shows each value's origin. The DVC
stage that writes it is `python -m tasks.resolve FILE`."""

from __future__ import annotations

from pathlib import Path

import yaml

from tasks.core.config import Params, apply_override, layer, load_params, read_raw, section_types
from tasks.core.defaults import default_layers

RESOLVED_FILE = "params.resolved.yaml"  # beside the pipeline's dataset folder: data/params.resolved.yaml, data/qa/...
HEADER = "# Written by lmforge (python -m tasks.resolve) from {file}: edit that file, not this one.\n"


def resolved_path(params: Params) -> Path:
    return Path(params.paths.dataset).parent / RESOLVED_FILE


def resolved_values(params: Params, raw: dict) -> dict:
    """Every key's value, in the file's own spelling where the file gave one (`pkg:NAME`, not the folder it names on
    this machine), so that dvc.lock records the same params on every machine; a Hub id pinned to its commit when
    the params were (a new commit of a branch is then a change DVC sees)."""
    values = layer(Params, params.model_dump(mode="json", by_alias=True), raw)
    for dotted in params.hub_pins:
        section, key = dotted.split(".")
        values[section][key] = getattr(getattr(params, section), key)
    return values


def write_resolved(path: str | Path, params: Params | None = None) -> Path:
    """Write the resolved params of the params file at `path` (without --set: DVC records the file's own run), or
    of `params` loaded from it (with Hub ids pinned); an unchanged file is left alone."""
    params = params or load_params(path)
    target = resolved_path(params)
    text = HEADER.format(file=Path(path).as_posix()) + yaml.safe_dump(resolved_values(params, read_raw(path)),
                                                                      sort_keys=False, allow_unicode=True)
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(".tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(target)  # DVC never reads half a file
    # ingest's DVC stage depends on the feedback folder (labels fed back are training rows): it must exist.
    Path(params.paths.feedback).mkdir(parents=True, exist_ok=True)
    return target


def flatten(model: type, values: dict, prefix: str = "") -> dict[str, object]:
    """Dotted key -> value, down through sections; a dict that is a value (promote.guarded) stays one value."""
    sections = section_types(model)
    found: dict[str, object] = {}
    for key, value in values.items():
        section = sections.get(key)
        if section is not None and isinstance(value, dict):
            found |= flatten(section, value, f"{prefix}{key}.")
        else:
            found[f"{prefix}{key}"] = value
    return found


def describe_params(path: str | Path, overrides: list[str] | None = None) -> list[tuple[str, object, str]]:
    """(dotted key, value, origin) of every key: --set, the file, the task kind's or the file name's default, or
    the schema's default."""
    params = load_params(path, overrides)
    raw, given = read_raw(path), read_raw(path)
    for assignment in overrides or []:
        apply_override(given, assignment)
    overridden = {assignment.partition("=")[0] for assignment in overrides or []}
    values = flatten(Params, resolved_values(params, given))
    layers = [("file", flatten(Params, raw))] + [(origin, flatten(Params, values_of)) for origin, values_of
                                                 in reversed(default_layers(params.task, path))]

    def origin_of(key: str) -> str:
        if any(key == name or name.startswith(key + ".") for name in overridden):
            return "--set"
        return next((origin for origin, found in layers if key in found), "default")

    return [(key, value, origin_of(key)) for key, value in values.items()]


"""The configuration reference page, generated from the params schema so that it cannot drift from the code:
`python -m tasks.core.reference > docs/params-reference.md` (`make docs`); a unit test fails when the committed
page differs from what the schema says."""

from __future__ import annotations

import json
import types
import typing

from pydantic import BaseModel

HEADER = """# Params reference

Every key of a params file, generated from the schema (`tasks/core/config.py`) by `make docs`; do not edit by hand.
A key a file leaves out takes the task kind's default (below), then one named after the file (outputs, registered
model, schedule), then the schema's default shown here. `lmforge params --params FILE` prints the values a run will read and
where each comes from.
"""


def describe_type(annotation) -> str:
    """A short spelling of a field's type: `int`, `str or null`, `"auto", "fp32" or "bf16"`, `map of str to float`."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " or ".join(json.dumps(arg) for arg in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if arg is type(None) else describe_type(arg) for arg in args)
    if origin in (list, tuple):
        return f"list of {describe_type(args[0])}" if args else "list"
    if origin is dict:
        return f"map of {describe_type(args[0])} to {describe_type(args[1])}" if args else "map"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    return getattr(annotation, "__name__", str(annotation))


def show_default(field) -> str:
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return "`" + json.dumps(value, default=str) + "`"


def list_fields(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(dotted key, type, default, description) for every leaf of `model`, depth first in the schema's order."""
    rows = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(list_fields(annotation, f"{key}."))
            continue
        description = " ".join((field.description or "").split()).replace("|", "\\|")
        rows.append((key, describe_type(annotation).replace("|", "\\|"), show_default(field).replace("|", "\\|"),
                     description))
    return rows


def render_kind_defaults() -> str:
    from tasks.core.defaults import KIND_DEFAULTS

    lines = ["## Defaults per task kind", "", "| task | key | default |", "| --- | --- | --- |"]
    for task, sections in KIND_DEFAULTS.items():
        for key, value in flatten(sections):
            lines.append(f"| {task} | `{key}` | `{json.dumps(value)}` |")
    return "\n".join(lines)


def flatten(tree: dict, prefix: str = "") -> list[tuple[str, object]]:
    """Dotted keys of a nested dict; an empty dict stays one value (`promote.floors: {}`)."""
    pairs = []
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            pairs.extend(flatten(value, f"{prefix}{key}."))
        else:
            pairs.append((f"{prefix}{key}", value))
    return pairs


def render_reference() -> str:
    from tasks.core.config import Params

    rows = list_fields(Params)
    sections: dict[str, list] = {}
    for row in rows:
        sections.setdefault(row[0].split(".")[0] if "." in row[0] else "", []).append(row)
    parts = [HEADER]
    for section, members in sections.items():
        parts += [f"## `{section}`" if section else "## Top level", "", "| key | type | default | meaning |",
                  "| --- | --- | --- | --- |"]
        parts += [f"| `{key}` | {kind} | {default} | {meaning} |" for key, kind, default, meaning in members]
        parts.append("")
    parts.append(render_kind_defaults())
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(render_reference(), end="")

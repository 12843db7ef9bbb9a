"""docs/cli.md's reference parts, generated from the Typer app and cli.contract: every command with its arguments,
options, defaults and help, the exit codes and each command's JSON shape. `python -m cli.reference` (`make docs`)
rewrites the parts between the doc's `<!-- generated: NAME -->` and `<!-- end: NAME -->` lines and leaves the prose
around them; a unit test fails when the committed doc differs from what this writes."""

from __future__ import annotations

import re
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
PART = re.compile(r"(<!-- generated: (?P<name>[a-z-]+) -->\n)(.*?)(<!-- end: (?P=name) -->)", re.S)


def cell(text: object) -> str:
    """A value in a Markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def describe_type(param) -> str:
    """What the argument or option takes, from its annotation: a choice list, a flag, a number, a path, text."""
    import enum
    import typing

    annotation = param.type_descriptor.annotation
    repeated = typing.get_origin(annotation) is list
    if repeated:
        annotation = typing.get_args(annotation)[0]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        taken = " \\| ".join(f"`{member.value}`" for member in annotation)
    else:
        taken = {bool: "flag", int: "integer", float: "number", Path: "path"}.get(annotation, "text")
    return f"{taken} (repeatable)" if repeated else taken


def describe_default(param) -> str:
    default = param.default
    if getattr(param, "is_flag", False) or default in (None, (), [], False) or param.required:
        return ""
    return f"`{getattr(default, 'value', default)}`"


def render_command(name: str, command) -> list[str]:
    """A command's heading, what it does, its usage line and a table of its arguments and options."""
    arguments = [param for param in command.params if param.param_type_name == "argument" and not param.hidden]
    usage = " ".join(["lmforge", name, *(f"[{param.name.upper()}]" if not param.required else param.name.upper()
                                         for param in arguments), "[OPTIONS]"])
    lines = [f"### `lmforge {name}`", "", cell(command.help or ""), "", f"`{usage}`", ""]
    rows = [param for param in command.params if not getattr(param, "hidden", False)]
    if rows:
        lines += ["| argument or option | takes | default | what |", "| --- | --- | --- | --- |"]
        for param in rows:
            names = ", ".join(f"`{opt}`" for opt in param.opts) if param.param_type_name == "option" \
                else f"`{param.name.upper()}`" + ("" if param.required else " (optional)")
            lines.append(f"| {names} | {describe_type(param)} | {describe_default(param)} | "
                         f"{cell(getattr(param, 'help', '') or '')} |")
        lines.append("")
    return lines


def render_commands() -> str:
    from typer.main import get_command

    from cli.app import PANELS, app

    group = get_command(app)
    lines = []
    for panel, functions in PANELS.items():
        lines += [f"## {panel}", ""]
        for function in functions:
            name = function.__name__.replace("_", "-")
            lines += render_command(name, group.commands[name])
    return "\n".join(lines)


def render_exit_codes() -> str:
    from cli.contract import EXIT_CODES

    return "\n".join(["| code | meaning |", "| --- | --- |", *(f"| {code} | {cell(meaning)} |" for code, meaning
                                                                 in EXIT_CODES)]) + "\n"


def render_json() -> str:
    from cli.contract import JSON_SHAPES

    return "\n".join(["| command | shape |", "| --- | --- |",
                      *(f"| `{name} --json` | {cell(shape)} |" for name, shape in JSON_SHAPES.items())]) + "\n"


RENDERERS = {"commands": render_commands, "exit-codes": render_exit_codes, "json": render_json}


def render_doc(text: str) -> str:
    """The doc with each generated part written anew; a part the doc lacks or names wrongly is an error."""
    found = {match.group("name") for match in PART.finditer(text)}
    if found != set(RENDERERS):
        raise SystemExit(f"docs/cli.md: generated parts {sorted(found)}, expected {sorted(RENDERERS)}")
    return PART.sub(lambda match: match.group(1) + RENDERERS[match.group("name")]().rstrip("\n") + "\n\n"
                    + match.group(4), text)


if __name__ == "__main__":
    DOC.write_text(render_doc(DOC.read_text()))
    sys.exit(0)

"""Every `lmforge` command line quoted in README.md and docs/ goes through the command line's own parser (Click, under
Typer) with its real arguments: a doc that names a command, an option or a choice that does not exist fails here.
Nothing runs: parsing stops where the command would start its work."""

from __future__ import annotations

import re
import shlex

import pytest
import typer
from typer._click import exceptions as click  # Typer 0.29 parses with its own copy of Click: its exceptions are these

from tests.conftest import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"```[a-z]*\n(.*?)```", re.S)
INLINE = re.compile(r"`((?:\.venv/bin/)?lmforge (?![a-z]+:)[^`]+)`")  # not a line lmforge printed ("lmforge serve: ...")
SHELL_ENDS = {"&", "&&", "|", "||", ";", ">", ">>", "2>&1"}
# A shell line that runs lmforge (what lmforge prints, "lmforge run finished" or "lmforge serve: ...", is not one).
COMMAND_LINE = re.compile(r"^\s*(\$ )?([A-Z_]+=\S+ )*(\.venv/bin/)?lmforge( |$)(?!run finished|[a-z]+:)")
# Words a doc writes for "fill in your own": the line shows a shape, not a command line to parse.
PLACEHOLDER = re.compile(r"\bCOMMAND\b|\.\.\.|\[")
# Placeholders a doc writes where a value of a type goes: parsed as such a value.
SAMPLES = {"KIND": "classification", "N": "2"}


def quoted_lines() -> list[tuple[str, str, bool]]:
    """(where, the command line, whether it is whole) for each lmforge invocation: a line of a fenced shell block
    is whole; an inline code span in prose may name a command without its arguments (`lmforge reproduce`)."""
    found = []
    for doc in DOCS:
        text = doc.read_text()
        for block in FENCE.findall(text):
            for line in block.replace("\\\n", " ").splitlines():
                if COMMAND_LINE.match(line):
                    found.append((doc.name, line.strip(), True))
        prose = FENCE.sub("", text)
        found += [(doc.name, span, False) for span in INLINE.findall(prose.replace("\n", " "))]
    return [item for item in found if not PLACEHOLDER.search(item[1].split("#")[0])]


def lmforge_args(line: str) -> list[str] | None:
    """The arguments lmforge gets on this shell line (environment, pipes, redirects and comments left out)."""
    try:
        words = shlex.split(line, comments=True)
    except ValueError:  # an unfinished quote in a shortened example
        return None
    start = next((i for i, word in enumerate(words) if word.endswith("lmforge")), None)
    if start is None:
        return None
    args = []
    for word in words[start + 1:]:
        if word in SHELL_ENDS:
            break
        args.append(SAMPLES.get(word, word))
    return args


def parse(args: list[str]) -> None:
    """What `lmforge ARGS` does up to the point where a command would run: Click's parsing, with every option,
    choice and type checked."""
    from typer.main import get_command

    from cli.app import app

    group = get_command(app)
    if not args or args[0].startswith("-"):  # the group's own options: --help, --version
        group.make_context("lmforge", list(args)).close()
        return
    with group.context_class(group, info_name="lmforge") as context:
        command = group.get_command(context, args[0])
        if command is None:
            raise click.UsageError(f"No such command {args[0]!r}.")
        command.make_context(args[0], list(args[1:]), parent=context).close()


LINES = quoted_lines()


def test_the_docs_quote_many_command_lines():
    assert len(LINES) > 60 and {where for where, *_ in LINES} >= {"README.md", "cli.md", "serving.md"}, LINES[:5]


@pytest.mark.parametrize("where, line, whole", LINES, ids=[f"{where}:{line[:60]}" for where, line, _ in LINES])
def test_each_quoted_command_line_parses(where, line, whole):
    args = lmforge_args(line)
    if args is None:
        pytest.fail(f"{where}: cannot read the shell line {line!r}")
    try:
        parse(args)
    except (typer.Exit, SystemExit) as stop:  # --help, --version: parsed, then it would print and stop
        assert getattr(stop, "exit_code", getattr(stop, "code", 0)) in (0, None), line
    except (click.MissingParameter, click.BadOptionUsage):  # prose names a command or an option without its value
        if whole:
            raise
    except click.UsageError as error:
        pytest.fail(f"{where}: `{line}` does not parse: {error.format_message()}")


def test_a_line_naming_an_option_that_does_not_exist_fails():
    with pytest.raises(click.UsageError, match="No such option: --epochs"):
        parse(["run", "--epochs", "3"])
    with pytest.raises(click.UsageError, match="'tflite' is not one of"):
        parse(["serve", "--backend", "tflite"])
    with pytest.raises(click.UsageError, match="No such command 'deploy'"):
        parse(["deploy"])
    with pytest.raises(click.MissingParameter):
        parse(["promote", "--reason", "why"])

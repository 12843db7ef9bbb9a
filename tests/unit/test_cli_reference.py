"""docs/cli.md's reference parts are generated from the command line (cli.reference): a command, option, default or
JSON shape changed in the code and not in the doc fails here (`make docs` writes it again)."""

from typer.main import get_command

from cli.app import PANELS, app
from cli.contract import JSON_SHAPES
from cli.reference import DOC, render_doc


def test_the_committed_reference_is_what_the_command_line_says():
    committed = DOC.read_text()
    assert render_doc(committed) == committed, "docs/cli.md is stale: run `make docs` and commit it"


def test_every_command_has_json_and_its_shape_is_written_down():
    group = get_command(app)
    with_json = {name for name, command in group.commands.items()
                 if any("--json" in getattr(param, "opts", []) for param in command.params)}
    assert with_json == set(group.commands), f"commands without --json: {sorted(set(group.commands) - with_json)}"
    assert set(JSON_SHAPES) == with_json, f"shapes missing: {sorted(with_json - set(JSON_SHAPES))}, " \
                                          f"for no command: {sorted(set(JSON_SHAPES) - with_json)}"
    assert {function.__name__ for functions in PANELS.values() for function in functions} == set(group.commands)


def test_a_changed_help_text_makes_the_doc_stale():
    committed = DOC.read_text()
    edited = committed.replace("| `--workers` | integer |", "| `--workers` | number |", 1)
    assert edited != committed and render_doc(edited) == committed

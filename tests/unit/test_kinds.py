"""The layout's rules: steps ask tasks.kinds for what differs, never branch on params.task and never import a kind's
package; a kind reaches no step and no other kind; infrastructure (tasks/core, data, training, decoders, registry,
servers, monitoring, hub, telemetry) reaches no step and no kind; flows/ holds Prefect flows and cli/ the command line; the import graph
of cli/, flows/ and tasks/ has no cycles."""

import ast
import graphlib
from pathlib import Path
from typing import get_args

import pytest

from tasks.core.config import CHECKS, TASK_METRICS, Params
from tasks.kinds import KINDS, get_kind
from tasks.kinds.base import TaskKind
from tests.conftest import REPO

# Infrastructure, by concern: each a package under tasks/.
INFRASTRUCTURE = ("core", "data", "training", "decoders", "registry", "servers", "monitoring", "hub", "telemetry")
# What tasks/kinds/base.py's TaskKind declares: its attributes and its methods.
PROTOCOL = (*TaskKind.__annotations__, *(name for name, value in vars(TaskKind).items()
                                         if callable(value) and not name.startswith("_")))


def module_files() -> dict[str, Path]:
    found = {}
    for package in ("tasks", "flows", "cli"):
        for path in (REPO / package).rglob("*.py"):
            found[".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports, at the top or inside functions alike."""
    files = module_files()
    graph = {}
    for name, path in files.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found |= {f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in files else node.module
                          for alias in node.names}
            elif isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
        graph[name] = {other for other in found if other in files and other != name}
    return graph


def steps_of(graph: dict[str, set[str]]) -> set[str]:
    """The modules directly in tasks/: the DAG's steps (dvc.yaml's stages), the other drivers of kinds (predict,
    serve, sweep) and their entry points."""
    files = module_files()
    return {name for name in graph if name.count(".") == 1 and name.startswith("tasks.")
            and files[name].name != "__init__.py"}


def kind_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["tasks", "kinds"] and parts[2] in KINDS else None


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for other in graph[todo.pop()] - seen:
            seen.add(other)
            todo.append(other)
    return seen


def test_the_import_graph_has_no_cycles():
    try:
        tuple(graphlib.TopologicalSorter(import_graph()).static_order())
    except graphlib.CycleError as error:
        pytest.fail(f"import cycle: {' -> '.join(error.args[1])}")


def branches_on_task(path: Path) -> list[int]:
    """Lines that compare something named task (params.task, settings.task, task) with anything."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(isinstance(side, ast.Attribute) and side.attr == "task" or isinstance(side, ast.Name) and
                   side.id == "task" for side in sides):
                lines.append(node.lineno)
    return lines


def test_no_step_or_flow_branches_on_the_task_kind():
    files = module_files()
    drivers = sorted(steps_of(import_graph()) | {name for name in files if name.startswith(("flows.", "cli."))})
    found = {name: lines for name in drivers if (lines := branches_on_task(files[name]))}
    assert not found, f"compare params.task instead of asking tasks.kinds: {found}"


def check_layout(graph: dict[str, set[str]]) -> None:
    steps = steps_of(graph)
    assert {"tasks.ingest", "tasks.train", "tasks.export", "tasks.serve"} <= steps
    for driver in sorted(steps | {name for name in graph if name.startswith(("flows.", "cli."))}):
        direct = {other for other in graph[driver] if kind_of(other)}
        assert not direct, f"{driver} imports {sorted(direct)}; ask tasks.kinds.get_kind(params.task) instead"
    for task in KINDS:
        reached = reachable(graph, f"tasks.kinds.{task}")
        assert not reached & steps, f"kind {task} reaches the step modules {sorted(reached & steps)}"
        others = {other for other in reached if kind_of(other) not in (None, task)}
        assert not others, f"kind {task} reaches another kind's modules {sorted(others)}"
    infrastructure = sorted(name for name in graph if name.split(".")[:2] in [["tasks", c] for c in INFRASTRUCTURE])
    assert len(infrastructure) > 20
    for module in infrastructure:
        reached = reachable(graph, module)
        bad = sorted(other for other in reached if other in steps or other.startswith("tasks.kinds"))
        assert not bad, f"infrastructure {module} reaches steps or kinds: {bad}"


def test_steps_kinds_and_infrastructure_keep_to_their_floors():
    check_layout(import_graph())


def test_the_layout_check_fails_on_a_step_importing_a_kinds_module():
    graph = import_graph()
    graph["tasks.export"] = graph["tasks.export"] | {"tasks.kinds.qa.train"}
    with pytest.raises(AssertionError, match="tasks.export imports .*tasks.kinds.qa.train"):
        check_layout(graph)


def test_every_kind_is_a_package_of_role_named_modules():
    files = module_files()
    for task in KINDS:
        modules = {name.rpartition(".")[2] for name in files if kind_of(name) == task and name != f"tasks.kinds.{task}"}
        assert {"builtin", "checks", "tokenize", "train", "evaluate", "metrics", "model"} - modules <= {"checks"}, \
            (task, sorted(modules))
        assert not any(name.startswith(task.split("_")[0]) for name in modules), (task, sorted(modules))


@pytest.mark.parametrize("task", sorted(KINDS))
def test_every_kind_provides_the_whole_interface(task):
    kind = get_kind(task)
    missing = [name for name in PROTOCOL if not hasattr(kind, name)]
    assert not missing, f"tasks.kinds.{task} lacks {missing} (tasks/kinds/base.py lists them)"
    assert kind.KEY_METRIC in TASK_METRICS[task]


def test_the_registry_and_the_params_schema_name_the_same_kinds():
    assert set(KINDS) == set(get_args(Params.model_fields["task"].annotation)) == set(TASK_METRICS) == set(CHECKS)


def test_flows_hold_prefect_flows_and_the_command_line_lives_in_cli():
    """The folder shows the architecture: no command in flows/, no flow in cli/."""
    graph, files = import_graph(), module_files()
    for name, path in files.items():
        text = path.read_text()
        if name.startswith("flows."):
            assert "import typer" not in text, f"{name}: a command belongs in cli/"
        if name.startswith("cli."):
            assert "@flow" not in text and "@task" not in text, f"{name}: a flow or task belongs in flows/ or tasks/"
    assert not any(other.startswith("cli") for name in graph if not name.startswith("cli.") for other in graph[name])

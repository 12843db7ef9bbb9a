"""The seam between steps and task kinds: steps ask tasks.kinds for what differs, never branch on params.task and
never import a kind's own modules; kinds never reach a step; the import graph of flows/ and tasks/ has no cycles."""

import ast
import graphlib
from pathlib import Path
from typing import get_args

import pytest

from tasks.config import CHECKS, TASK_METRICS, Params
from tasks.kinds import KINDS, get_kind
from tasks.kinds.base import TaskKind
from tests.conftest import REPO

# The DAG's steps (dvc.yaml's stages) and the other drivers of kinds (predict, serve, sweep) and flows/.
STEPS = {f"tasks.{name}" for name in ("ingest", "validate", "tokenize", "train", "evaluate", "register", "promote",
                                      "export", "predict", "serving", "sweep")}
# What tasks/kinds/base.py's TaskKind declares: its attributes and its methods.
PROTOCOL = (*TaskKind.__annotations__, *(name for name, value in vars(TaskKind).items()
                                         if callable(value) and not name.startswith("_")))


def module_files() -> dict[str, Path]:
    found = {}
    for package in ("tasks", "flows"):
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
    drivers = sorted(name for name in files if name in STEPS or name.startswith("flows."))
    found = {name: lines for name in drivers if (lines := branches_on_task(files[name]))}
    assert not found, f"compare params.task instead of asking tasks.kinds: {found}"


def test_steps_never_import_a_kinds_modules_and_kinds_never_reach_a_step():
    graph = import_graph()
    owned = {module: task for task in KINDS for module in get_kind(task).OWN_MODULES}
    assert set(owned) <= set(graph), f"OWN_MODULES names modules that do not exist: {set(owned) - set(graph)}"
    for step in sorted(STEPS | {name for name in graph if name.startswith("flows.")}):
        direct = graph[step] & (set(owned) | {f"tasks.kinds.{task}" for task in KINDS})
        assert not direct, f"{step} imports {sorted(direct)}; ask tasks.kinds.get_kind(params.task) instead"
    for task in KINDS:
        steps = reachable(graph, f"tasks.kinds.{task}") & STEPS
        assert not steps, f"kind {task} reaches the step modules {sorted(steps)}"


@pytest.mark.parametrize("task", sorted(KINDS))
def test_every_kind_provides_the_whole_interface(task):
    kind = get_kind(task)
    missing = [name for name in PROTOCOL if not hasattr(kind, name)]
    assert not missing, f"tasks.kinds.{task} lacks {missing} (tasks/kinds/base.py lists them)"
    assert kind.KEY_METRIC in TASK_METRICS[task]


def test_the_registry_and_the_params_schema_name_the_same_kinds():
    assert set(KINDS) == set(get_args(Params.model_fields["task"].annotation)) == set(TASK_METRICS) == set(CHECKS)

"""The promotion gate as the flows run it: judge the challenger, export it when the rule says yes (so that the
serving check runs it on the backend it will serve on), check it in a real `lmforge serve`, ask a person when
promote.approval is required, then move @champion or not, and record. Wiring only: the parts are tasks in
tasks/promote.py and tasks/export.py, and the pause in flows/approval.py."""

from __future__ import annotations

from tasks.core.config import Params
from tasks.core.records import ModelVersion, Promotion
from tasks.export import export
from tasks.promote import check_serving, judge, promote


def run_gate(params: Params, version: ModelVersion, data_version: str, run_id: str) -> tuple[Promotion, dict | None]:
    """The decision and the export record (None when nothing was exported)."""
    decision = judge(params, version, data_version)
    passed = decision["verdict"] == "promoted"
    exported = export(params, version.version, run_id) if passed and params.export.enabled else None
    serving = check_serving(params, version) if passed else None
    approval = None
    if passed and (serving is None or serving["passed"]) and params.promote.approval == "required":
        from flows.approval import ask_approval

        approval = ask_approval(params, version, decision, serving)
    return promote(params, version, decision, serving, approval), exported

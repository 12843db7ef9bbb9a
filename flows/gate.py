"""The promotion gate as the flows run it: judge the challenger, export it when the rule says yes (so that the
serving check runs it on the backend it will serve on), check it in a real `lmforge serve`, ask a person when
promote.approval is required, then move @champion or not, and record. Wiring only: the parts are tasks in
tasks/promote.py and tasks/export.py, and the pause in flows/approval.py."""

from __future__ import annotations

from flows.registry_turn import registry_turn
from tasks.core.config import Params
from tasks.core.records import ModelVersion, Promotion
from tasks.export import export
from tasks.promote import approval_required, check_serving, judge, promote


def run_gate(params: Params, version: ModelVersion, data_version: str, run_id: str) -> tuple[Promotion, dict | None]:
    """The decision and the export record (None when nothing was exported). One registry turn (flows/registry_turn)
    from judging to the alias; a wait for approval happens between two, so that other runs are not held for it, and
    promote then rejects when the champion moved meanwhile."""
    with registry_turn(params):
        decision = judge(params, version, data_version)
        passed = decision["verdict"] == "promoted"
        exported = export(params, version.version, run_id) if passed and params.export.enabled else None
        serving = check_serving(params, version) if passed else None
        # promote.approval: required, or feedback.requires_approval and new fed-back rows in this data version.
        ask = passed and (serving is None or serving["passed"]) and approval_required(params, data_version)
        if not ask:
            return promote(params, version, decision, serving), exported
    from flows.approval import ask_approval

    approval = ask_approval(params, version, decision, serving)
    with registry_turn(params):
        return promote(params, version, decision, serving, approval), exported

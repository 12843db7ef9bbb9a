"""The approver's side of a paused promotion (`lmforge approve`): who answers, checked before anything is written."""

from __future__ import annotations

from tasks.core.config import Params
from tasks.core.errors import LmforgeError


def pause_key(params: Params, version: str, attempt: int) -> str:
    """Unique per pause (Prefect skips a pause whose key the run used before); `lmforge approve` reads the model and
    version from it (the name in hex: Prefect's keys take letters, digits and dashes only)."""
    return f"approval-{version}-{attempt}-{params.registry.model_name.encode().hex()}"


def read_pause_key(key: str) -> tuple[str, str] | None:
    """(model name, version) of a pause_key, or None for another pause."""
    parts = key.split("-")
    if len(parts) != 4 or parts[0] != "approval":
        return None
    try:
        return bytes.fromhex(parts[3]).decode(), parts[1]
    except ValueError:
        return None


def record_answer(params: Params, flow_run, approve: bool, reason: str) -> dict:
    """Write the answer to the version's decision record under the identity the tracking server authenticated;
    the paused run reads it there. Self-approval (promote.approval_separation) is refused before it is written."""
    from tasks.registry import tracking
    from tasks.registry.champion import acting
    from tasks.registry.decisions import append_decision, latest, read_decisions

    found = read_pause_key(flow_run.state.state_details.pause_key or "")
    if found is None:
        raise LmforgeError(f"flow run {flow_run.name} is paused, but not for approval; nothing was answered.")
    name, version = found
    params = params.model_copy(update={"registry": params.registry.model_copy(update={"model_name": name})})
    client, me = tracking.client(params), acting(params)
    asked = latest(read_decisions(client, name, version), "approval asked", flow_run=str(flow_run.id))
    if asked is None:
        raise LmforgeError(f"flow run {flow_run.name} waits on {name} version {version}, which has no approval request "
                           "in this project's registry; answer from the project that started it (--params).")
    if approve and asked.get("separation") and asked["by"] == me:  # withdrawing one's own challenger is allowed
        raise LmforgeError(f"{me} started flow run {flow_run.name} and may not approve it "
                           "(promote.approval_separation); ask another person.")
    return append_decision(client, params, version, {"kind": "approval", "flow_run": str(flow_run.id), "by": me,
                                                     "decision": "approved" if approve else "rejected",
                                                     "reason": reason})

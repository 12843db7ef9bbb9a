"""Approval before @champion moves (promote.approval: required): the flow run pauses with Prefect's own
pause-and-input, the gate's evidence on its page, until a person answers (`lmforge approve`, or Resume in the Prefect
UI with the typed form) or promote.approval_timeout_s passes, which rejects."""

from __future__ import annotations

import time

from prefect.input import RunInput

from tasks.core.config import Params
from tasks.core.records import ModelVersion

POLL_S = 2  # how often the paused flow asks whether it was answered (Prefect's default is 10 s)


class Approval(RunInput):
    """What a person answers: approve or not, and why (recorded with who and when)."""

    approve: bool
    reason: str
    by: str = ""


def evidence_markdown(params: Params, version: ModelVersion, decision: dict, serving: dict | None) -> str:
    import re

    from tasks.card import preview_card
    from tasks.report import describe_serving, metric_rows, slice_rows, table

    parts = [f"# Approve {params.registry.model_name} version {version.version} as @{params.registry.champion_alias}?",
             f"The gate passed it on {decision['test_rows']} test rows of data version `{decision['data_version']}` "
             f"(champion now: {decision.get('champion_before') or 'none'}).",
             "\n".join(f"- {reason}" for reason in decision["reasons"]), table(metric_rows(decision)),
             f"Serving check: {describe_serving(serving)}"]
    if decision.get("slices"):
        parts += ["## Slices", table(slice_rows(decision["slices"]))]
    parts += ["## Live traffic", live_traffic(params, str(version.version))]
    parts.append("Answer with `lmforge approve <this flow run's name> --reason TEXT` (`--reject` to refuse), or Resume "
                 "here. Its model card as it stands before the decision:")
    card = re.sub(r"^#", "##", preview_card(params, version.version), flags=re.M)  # under this page's title
    return "\n\n".join(parts) + "\n\n" + card


def live_traffic(params: Params, version: str) -> str:
    """The version's shadow and canary figures so far (`lmforge compare`), as a preformatted block."""
    from tasks.kinds import get_kind
    from tasks.monitoring.compare import compare_traffic, describe_traffic

    try:
        text = describe_traffic(compare_traffic(params, get_kind(params.task), params.monitor.window_hours), version)
    except Exception as error:  # noqa: BLE001 - an unreadable log leaves this part out, not the approval
        return f"The inference log could not be read ({str(error)[:200]})."
    if not text:
        return (f"No shadow or canary answers of version {version} in the last {params.monitor.window_hours:g} hours "
                "(`lmforge serve --set serve.shadow=true` scores it beside the champion while this waits).")
    return "```\n" + text + "\n```"


def ask_approval(params: Params, version: ModelVersion, decision: dict, serving: dict | None) -> dict:
    """Pause the flow run for a person's answer; the record (decision approved, rejected or timed out; by; reason;
    when; seconds waited)."""
    import os

    from prefect.artifacts import create_markdown_artifact
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import pause_flow_run
    from prefect.runtime import flow_run

    from tasks.core.runtime import say
    from tasks.registry.champion import now

    evidence = evidence_markdown(params, version, decision, serving)
    create_markdown_artifact(markdown=evidence, key=f"approval-{version.version}",
                             description=f"{params.registry.model_name} version {version.version} awaits approval")
    api = os.environ.get("PREFECT_API_URL", "")
    say(f"[approval] {params.registry.model_name} version {version.version} passed the gate; waiting up to "
        f"{params.promote.approval_timeout_s:.0f} s for: lmforge approve {flow_run.name} --reason TEXT [--reject]"
        + (f" --api {api}" if api else ""))
    started = time.monotonic()
    form = Approval.with_initial_data(description=evidence, approve=True, reason="")
    try:
        answer = pause_flow_run(wait_for_input=form, timeout=int(params.promote.approval_timeout_s), poll_interval=POLL_S,
                                key=f"approval-{version.version}")
    except FlowPauseTimeout:
        resume_after_timeout(flow_run.id)
        return {"decision": "timed out", "by": "", "reason": "", "time": now(),
                "waited_s": round(time.monotonic() - started, 1)}
    return {"decision": "approved" if answer.approve else "rejected", "by": answer.by or "unknown",
            "reason": answer.reason, "time": now(), "waited_s": round(time.monotonic() - started, 1)}


def resume_after_timeout(flow_run_id) -> None:
    """A pause that timed out leaves the flow run Paused, where Prefect runs no task: it goes on to record the
    rejection and build the card, so it is set Running again."""
    from prefect.client.orchestration import get_client
    from prefect.states import Running

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run_id, Running(), force=True)

"""The decision record of a registered version: every decision about it (the gate's verdict, an approval asked,
given or refused, a promotion or rollback by hand, a canary taken back), who made it and when, one file each under
`decisions/` of the version's MLflow run.

Append-only by construction: each decision is a new file whose name no other decision takes (time and a random
id), none is ever rewritten, and the model card checks that the version's tags agree with the record.
"""

from __future__ import annotations

import json
import uuid

from tasks.core.config import Params

FOLDER = "decisions"


def append_decision(client, params: Params, version: str, record: dict) -> dict:
    """Add one decision about `version` (its `kind` and what else it says); returns it as written."""
    from datetime import datetime, timezone

    stamp = datetime.now(timezone.utc)
    written = {"model": params.registry.model_name, "version": str(version),
               "time": stamp.isoformat(timespec="seconds"), **record,
               "id": uuid.uuid4().hex}
    run_id = client.get_model_version(params.registry.model_name, str(version)).run_id
    # Microseconds first: files sort in the order they were written, and the id keeps two at once apart.
    client.log_dict(run_id, written, f"{FOLDER}/{stamp.strftime('%Y%m%dT%H%M%S%f')}-{written['id'][:12]}.json")
    return written


def read_decisions(client, name: str, version: str) -> list[dict]:
    """Every decision about version `version` of model `name`, oldest first; a record that cannot be read raises
    ValueError (the card fails on it)."""
    import tempfile
    from pathlib import Path

    run_id = client.get_model_version(name, str(version)).run_id
    names = sorted(item.path for item in client.list_artifacts(run_id, FOLDER) if item.path.endswith(".json"))
    if not names:
        return []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(client.download_artifacts(run_id, FOLDER, scratch))
        return [json.loads((folder / Path(name).name).read_text()) for name in names]


def latest(decisions: list[dict], kind: str, **matching) -> dict | None:
    found = [d for d in decisions if d.get("kind") == kind and all(d.get(k) == v for k, v in matching.items())]
    return found[-1] if found else None


DECIDING = ("automatic", "promoted by hand", "restored by rollback")  # kinds that set the version's promotion tags


def check_decisions(client, version) -> list[str]:
    """Where the version's promotion tags disagree with its decision record (one line each); none when they agree."""
    tags = version.tags
    if not tags.get("promotion_verdict"):
        return []
    try:
        decisions = read_decisions(client, version.name, str(version.version))
    except ValueError as error:
        return [f"its decision record cannot be read ({type(error).__name__})"]
    deciding = [d for d in decisions if d.get("kind") in DECIDING]
    if not deciding:
        return [f"the version's tags say {tags['promotion_verdict']!r} by {tags.get('promotion_by')!r}, and its "
                "decision record holds no such decision"]
    last, problems = deciding[-1], []
    if (last.get("verdict"), last.get("by")) != (tags["promotion_verdict"], tags.get("promotion_by")):
        problems.append(f"the version's tags say {tags['promotion_verdict']!r} by {tags.get('promotion_by')!r}; its "
                        f"decision record's last decision is {last.get('verdict')!r} by {last.get('by')!r}")
    approval = last.get("approval") or {}
    if approval.get("decision") == "approved" and not latest(decisions, "approval", by=approval.get("by")):
        problems.append(f"the decision says {approval.get('by')!r} approved it; the decision record holds no such "
                        "approval")
    return problems

"""The champion alias in the MLflow registry: who holds it, its history, recorded moves, rollback, the version list.

Shared by the promote step and the `lmforge models / promote / rollback` commands, so every move is recorded alike.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from tasks.core.config import Params
from tasks.core.errors import LmforgeError
from tasks.core.run_record import split_facts

HISTORY_TAG = "champion_history"  # on the registered model: the versions that held the alias, oldest first
CANARY_ROLLED_BACK = "canary_rolled_back"  # on a version: its canary was taken back (share 0); when, and why


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def acting(params: Params) -> str:
    """Who this process acts as: the identity the tracking server authenticated, else the local account (never
    $USER or a typed name)."""
    from tasks.core.identity import current_identity
    from tasks.registry.tracking import tracking_uri

    return current_identity(tracking_uri(params))


def registered_versions(client, name: str) -> list:
    """Every version of the model, newest first; none when the model was never registered."""
    versions = client.search_model_versions(f"name='{name}'")
    return sorted(versions, key=lambda v: int(v.version), reverse=True)


def current_champion(client, params: Params):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(params.registry.model_name, params.registry.champion_alias)
    except MlflowException:
        return None


def champion_history(client, name: str) -> list[str]:
    from mlflow.exceptions import MlflowException

    try:
        tags = client.get_registered_model(name).tags
    except MlflowException:
        return []
    return [v for v in tags.get(HISTORY_TAG, "").split(",") if v]


def record_decision(client, params: Params, version: str, decision: dict, artifact: str) -> None:
    """The decision as tags on the version (what `lmforge models` shows) and as JSON on the version's run."""
    name = params.registry.model_name
    tags = {"promotion_verdict": decision["verdict"], "promotion_reason": "; ".join(decision["reasons"])[:4000],
            "promotion_time": decision["time"], "promotion_by": decision["by"],
            "promotion_final": str(decision.get("final", True)).lower()}
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    client.log_dict(client.get_model_version(name, version).run_id, decision, f"promotion/{artifact}")
    from tasks.registry.decisions import append_decision

    append_decision(client, params, version, {"kind": decision.get("kind", "gate"), "verdict": decision["verdict"],
                                              "by": decision["by"], "reasons": decision["reasons"],
                                              "approval": decision.get("approval")})
    # The file is what was decided, the same for the same inputs; when and by whom are on the tags and the run.
    made, _ = split_facts(decision, ("time", "by"))
    Path(params.paths.promotion).parent.mkdir(parents=True, exist_ok=True)
    Path(params.paths.promotion).write_text(json.dumps(made, indent=1))


def move_champion(client, params: Params, version: str, history: list[str]) -> None:
    """History first, then the alias (the switch users see); a failed alias move puts the history back."""
    name, before = params.registry.model_name, champion_history(client, params.registry.model_name)
    client.set_registered_model_tag(name, HISTORY_TAG, ",".join(history[-100:]))
    try:
        client.set_registered_model_alias(name, params.registry.champion_alias, version)
    except Exception:
        client.set_registered_model_tag(name, HISTORY_TAG, ",".join(before))
        raise


def manual_decision(params: Params, kind: str, version: str, before: str | None, reason: str) -> dict:
    return {"time": now(), "by": acting(params), "kind": kind, "model_name": params.registry.model_name,
            "challenger_version": version, "champion_before": before, "champion_after": version,
            "verdict": kind, "reasons": [reason], "rule": None, "metrics": {}, "deltas": {}}


def promote_by_hand(client, params: Params, version: str, reason: str) -> dict:
    """`lmforge promote VERSION`: the champion alias moves to VERSION, recorded with who and why."""
    from mlflow.exceptions import MlflowException

    name = params.registry.model_name
    if params.promote.approval == "required":
        raise LmforgeError(f"{params.source_file} requires approval (promote.approval: required), so no version is "
                           "promoted by hand: run the flow, whose gate asks a second person (`lmforge approve`); "
                           "`lmforge rollback` may still restore an earlier champion.")
    try:
        client.get_model_version(name, version)
    except MlflowException:
        raise LmforgeError(f"{name} has no version {version}; `lmforge models` lists the versions.") from None
    champion, history = current_champion(client, params), champion_history(client, name)
    before = champion and str(champion.version)
    if before == str(version):
        if history[-1:] == [before]:
            raise LmforgeError(f"version {version} of {name} is already @{params.registry.champion_alias}; nothing to "
                               "do.")
        before = history[-1] if history else None  # moved there outside lmforge: this records it (serve needs it)
    decision = manual_decision(params, "promoted by hand", version, before, reason)
    record_decision(client, params, version, decision, f"manual-{decision['time'].replace(':', '')}.json")
    move_champion(client, params, version, [*history, str(version)])
    return decision


def roll_back(client, params: Params, reason: str) -> dict:
    """`lmforge rollback`: the champion alias goes back to the version that held it before the current one."""
    name, alias = params.registry.model_name, params.registry.champion_alias
    champion, history = current_champion(client, params), champion_history(client, name)
    if champion is None:
        raise LmforgeError(f"{name} has no @{alias} to roll back; `lmforge models` shows the versions.")
    earlier = [v for v in history if v != str(champion.version)]
    if not earlier:
        raise LmforgeError(f"version {champion.version} is the first @{alias} of {name}: there is no earlier one to "
                           "roll back to; use `lmforge promote VERSION` to choose one.")
    while history and history[-1] == str(champion.version):
        history.pop()
    target = history[-1]
    decision = manual_decision(params, "restored by rollback", target, str(champion.version), reason)
    record_decision(client, params, target, decision, f"rollback-{decision['time'].replace(':', '')}.json")
    client.set_model_version_tag(name, str(champion.version), "rolled_back", f"{decision['time']} by {decision['by']}")
    move_champion(client, params, target, history)
    return decision


def find_unchanged(client, params: Params, data_version: str) -> str | None:
    """A version already trained on this data version with these params (the champion first), if any.

    Retraining the same inputs would give the same model again, whether that one was promoted or rejected. A version
    with no verdict yet does not count: its run stopped between registering and deciding (killed, or the registry
    went away), so the next run registers and decides again (reusing the trained model, still in paths.model) rather
    than skipping forever on an undecided version. Nor does a rejection that was not the model's (promotion_final
    false: a failed serving check, an approval nobody gave): the next run decides again.
    """
    same = lambda v: v.tags.get("data_version") == data_version and v.tags.get("inputs_hash") == params.inputs_hash()
    champion = current_champion(client, params)
    if champion is not None and same(champion):
        return f"version {champion.version} (@{params.registry.champion_alias})"
    for version in registered_versions(client, params.registry.model_name):
        if same(version) and version.tags.get("promotion_verdict") and version.tags.get("promotion_final") != "false":
            return f"version {version.version} ({version.tags.get('promotion_verdict', 'undecided')})"
    return None


def aliases_by_version(client, name: str) -> dict[str, list[str]]:
    from mlflow.exceptions import MlflowException

    try:
        aliases = client.get_registered_model(name).aliases
    except MlflowException:
        return {}
    found: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        found.setdefault(str(version), []).append(alias)
    return found


def record_canary_rollback(client, params: Params, version: str, champion: str, reason: str, figures: dict) -> dict:
    """A server took the canary back (share 0 for this version): recorded as a rollback is, a decision on the
    version's run and a tag on the version (every server following the registry reads it and stops the canary)."""
    name = params.registry.model_name
    earlier = client.get_model_version(name, version).tags.get(CANARY_ROLLED_BACK)
    if earlier:  # another server process took it back first: one record
        return {"verdict": "canary rolled back", "already": earlier}
    decision = {"time": now(), "by": f"lmforge serve ({acting(params)})", "kind": "canary rolled back",
                "model_name": params.registry.model_name, "challenger_version": version, "champion_before": champion,
                "champion_after": champion, "verdict": "canary rolled back", "reasons": [reason],
                "canary": {"share": params.serve.canary.share, **figures}, "rule": params.serve.canary.model_dump()}
    client.set_model_version_tag(params.registry.model_name, version, CANARY_ROLLED_BACK,
                                 f"{decision['time']}: {reason}"[:4000])
    client.log_dict(client.get_model_version(params.registry.model_name, version).run_id, decision,
                    f"promotion/canary-rollback-{decision['time'].replace(':', '')}.json")
    from tasks.registry.decisions import append_decision

    append_decision(client, params, version, {"kind": "canary rolled back", "by": decision["by"], "reasons": [reason]})
    return decision

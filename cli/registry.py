"""`lmforge models / promote / rollback`: read and move the champion alias; every move is recorded."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from cli.shared import DebugOption, JsonOption, ParamsOption, SetOption, command, echo_json, version_keys
from tasks.registry.model_refs import FORMS

ReasonOption = Annotated[str, typer.Option("--reason", help="Why: recorded with the decision.")]


def key_metrics(params) -> list[str]:
    from tasks.kinds import get_kind

    return list(dict.fromkeys((params.promote.primary_metric, get_kind(params.task).KEY_METRIC)))


def describe_versions(client, params) -> list[dict]:
    """One record per version, newest first: aliases, key metrics (from its run), data version, the recorded verdict."""
    from tasks.registry.champion import CANARY_ROLLED_BACK, aliases_by_version, registered_versions

    aliases = aliases_by_version(client, params.registry.model_name)
    records = []
    for version in registered_versions(client, params.registry.model_name):
        metrics = client.get_run(version.run_id).data.metrics if version.run_id else {}
        tags = version.tags
        records.append(version_keys(version.name, version.version) | {
            "version": str(version.version), "aliases": sorted(aliases.get(str(version.version), [])),
            "created": datetime.fromtimestamp(version.creation_timestamp / 1000).isoformat(timespec="seconds"),
            "metrics": {name: metrics.get(f"eval_{name}") for name in key_metrics(params)},
            "data_version": tags.get("data_version"), "promotion": tags.get("promotion_verdict", "undecided"),
            "reason": tags.get("promotion_reason", ""), "rolled_back": tags.get("rolled_back"),
            "canary_rolled_back": tags.get(CANARY_ROLLED_BACK),
            # `lmforge reproduce`'s last answer: its first word (identical, within_tolerance, differs), or none yet.
            "rebuilt": (tags.get("reproduce") or "-").split(" ")[0]})
    return records


def format_row(record: dict) -> tuple[str, ...]:
    verdict = record["promotion"] + (f", rolled back {record['rolled_back']}" if record["rolled_back"] else "") + \
        (f", canary rolled back {record['canary_rolled_back'][:25]}" if record.get("canary_rolled_back") else "")
    return (record["version"], " ".join(f"@{alias}" for alias in record["aliases"]),
            record["created"].replace("T", " ")[:16],
            *("-" if value is None else f"{value:.4f}" for value in record["metrics"].values()),
            (record["data_version"] or "-")[:12], record["rebuilt"],
            f"{verdict}: {record['reason']}" if record["reason"] else verdict)


def models(params: ParamsOption = Path("params.yaml"), set_: SetOption = None, as_json: JsonOption = False,
           debug: DebugOption = False) -> None:
    """List the registered versions with their aliases, key metrics, data version and promotion verdict."""
    with command(debug):
        from rich.console import Console
        from rich.table import Table

        from tasks.registry import tracking
        from tasks.core.config import load_params
        from tasks.core.errors import redact

        settings = load_params(params, set_)
        records = describe_versions(tracking.client(settings), settings)
        if as_json:
            echo_json({"model_name": settings.registry.model_name, "versions": records})
            return
        if not records:
            typer.echo(f"{settings.registry.model_name} has no versions yet in {redact(tracking.tracking_uri(settings))}; "
                       "run `lmforge run` first.")
            return
        table = Table(title=f"{settings.registry.model_name}  ({redact(tracking.tracking_uri(settings))})", title_justify="left")
        for name in ("version", "aliases", "created", *key_metrics(settings),
                     "data version", "rebuilt", "promotion"):
            table.add_column(name, overflow="fold")
        for record in records:
            table.add_row(*format_row(record))
        Console(width=max(160, Console().width)).print(table)


def promote(version: Annotated[str, typer.Argument(help=f"The version to make champion: {FORMS}.")],
            reason: ReasonOption, params: ParamsOption = Path("params.yaml"), set_: SetOption = None,
            as_json: JsonOption = False, debug: DebugOption = False) -> None:
    """Make VERSION the champion by hand, whatever the rule says; recorded with who and --reason."""
    with command(debug):
        from tasks.registry import tracking
        from tasks.registry.champion import promote_by_hand
        from tasks.core.config import load_params
        from tasks.core.runtime import hold_lock
        from tasks.registry.model_refs import find_model_version, parse_model_ref, require_own_model

        settings = load_params(params, set_)
        ref = parse_model_ref(version, settings.registry.model_name, settings.registry.champion_alias)
        require_own_model(ref, settings.registry.model_name, "promote")
        client = tracking.client(settings)
        version = ref.version or str(find_model_version(client, ref).version)  # a number promote_by_hand checks
        with hold_lock(settings.paths.lock, 60):
            decision = promote_by_hand(client, settings, version, reason)
        if as_json:
            echo_json(version_keys(settings.registry.model_name, decision["champion_after"]) | decision)
            return
        typer.echo(f"{settings.registry.model_name} version {version} is now @{settings.registry.champion_alias} "
                   f"(was {decision['champion_before'] or 'none'}); recorded by {decision['by']}.")


def rollback(reason: Annotated[str | None, typer.Option("--reason", help="Why: recorded with the decision, as "
                                                                      "promote's.")] = None,
             params: ParamsOption = Path("params.yaml"), set_: SetOption = None, as_json: JsonOption = False,
             debug: DebugOption = False) -> None:
    """Move the champion back to the version that held it before the current one; recorded."""
    with command(debug):
        from tasks.registry import tracking
        from tasks.registry.champion import roll_back
        from tasks.core.config import load_params
        from tasks.core.runtime import hold_lock

        settings = load_params(params, set_)
        if reason is None:  # once optional; a decision without a why is recorded as such, and said
            typer.echo("note: give --reason WHY, as promote takes it; recorded as 'rollback (no reason given)'.",
                       err=True)
        with hold_lock(settings.paths.lock, 60):
            decision = roll_back(tracking.client(settings), settings, reason or "rollback (no reason given)")
        if as_json:
            echo_json(version_keys(settings.registry.model_name, decision["champion_after"]) | decision)
            return
        typer.echo(f"{settings.registry.model_name}: @{settings.registry.champion_alias} rolled back from version "
                   f"{decision['champion_before']} to version {decision['champion_after']}; recorded by {decision['by']}.")


def export(version: Annotated[str | None, typer.Argument(help=f"The version ({FORMS}); default the champion.")] = None,
           params: ParamsOption = Path("params.yaml"), set_: SetOption = None, as_json: JsonOption = False,
           debug: DebugOption = False) -> None:
    """Export VERSION as ONNX, int8 ONNX and a torch.export program (seq2seq: ONNX and int8 ONNX for beam search),
    parity-checked on the test split; recorded on it."""
    with command(debug):
        from tasks.registry import tracking
        from tasks.core.config import load_params
        from tasks.export import describe_parity, export_version
        from tasks.registry.model_refs import find_model_version, parse_model_ref, require_own_model

        settings = load_params(params, set_)
        ref = parse_model_ref(version, settings.registry.model_name, settings.registry.champion_alias)
        require_own_model(ref, settings.registry.model_name, "export")
        found = find_model_version(tracking.client(settings), ref)
        record = export_version(settings, str(found.version), found.run_id)
        from tasks.card import publish_card

        publish_card(settings, str(found.version), write_local=False)  # its card shows the new parity
        if as_json:
            echo_json(version_keys(found.name, found.version) | {"version": str(found.version), "exports": record})
            return
        typer.echo(f"{settings.registry.model_name} version {found.version}:")
        from tasks.registry.backends import BACKEND_FILES

        for backend, result in record.items():
            if isinstance(result, dict) and backend in BACKEND_FILES:  # not the files' hashes
                typer.echo(f"  {backend:<13} {describe_parity(result)}")

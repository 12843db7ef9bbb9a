"""Hub ids in params, pinned: every checkpoint key that names a Hub model is rewritten to `ORG/NAME@<commit sha>` at
the start of a run, so that everything after it (the training key, the logged params, the lineage a rebuild reads)
names the commit, not a branch that may move. What the params asked for is kept beside them for the record."""

from __future__ import annotations

from pathlib import Path

from tasks.core.config import Params
from tasks.hub.models import COMMIT, HubModel, parse_hub_id, resolve_hub_model

# (section, key) of every params value that may name a checkpoint.
CHECKPOINT_KEYS = (("model", "pretrained"), ("model", "pretrained_encoder"), ("model", "pretrained_decoder"),
                   ("tokenize", "pretrained"))
TAG_PREFIX = "hub."  # hub.model.pretrained: ORG/NAME@sha (requested main)


def named_checkpoints(params: Params) -> dict[str, str]:
    """Dotted key -> value for each checkpoint key that is set."""
    found = {}
    for section, key in CHECKPOINT_KEYS:
        value = getattr(getattr(params, section), key)
        if value:
            found[f"{section}.{key}"] = value
    return found


def pin_params(params: Params, known: dict[str, HubModel] | None = None) -> Params:
    """A copy of params with each Hub id resolved and pinned to its commit (unchanged when none names one); the
    resolutions ride along as `params.hub_pins` (what was asked, what it resolved to). `known`: resolutions made
    already in this run, reused for a key that asks for the same revision of the same model (not asked again)."""
    hub = {key: value for key, value in named_checkpoints(params).items() if parse_hub_id(value)}
    if not hub:
        return params
    pinned = params.model_copy(deep=True)
    pins = dict(params.hub_pins)
    for dotted, value in hub.items():
        asked, before = parse_hub_id(value), (known or {}).get(dotted)
        same = before is not None and (before.repo_id, before.revision) in {(asked.repo_id, asked.revision),
                                                                            (asked.repo_id, before.sha)}
        found = before if same else resolve_hub_model(value, dotted, params.model.trust_remote_code)
        section, key = dotted.split(".")
        setattr(getattr(pinned, section), key, found.pinned)
        # A value pinned already (a rebuild's recorded params) keeps what was first asked for.
        pins.setdefault(dotted, found)
    pinned.hub_pins = pins
    return pinned


def describe_pin(found: HubModel) -> str:
    """`ORG/NAME@sha (requested main)`, or just the pinned id when the commit itself was asked for."""
    asked = "" if found.revision == found.sha else f" (requested {found.revision})"
    return f"{found.pinned}{asked}"


def hub_tags(params: Params) -> dict[str, str]:
    """Lineage tags of the Hub checkpoints a run used (hub.<key>), and whether the repo's own code was trusted."""
    tags = {}
    for dotted, value in named_checkpoints(params).items():
        found = params.hub_pins.get(dotted) or parse_hub_id(value)
        if found is not None:
            tags[TAG_PREFIX + dotted] = describe_pin(found) if found.sha else found.pinned
    if tags and params.model.trust_remote_code:
        tags["trust_remote_code"] = "true"
    return tags


def pinned_overrides(params: Params) -> list[str]:
    """`--set` assignments that pin each Hub id as `params` has it: what processes that load the params file again
    (a sweep's trials) apply, so that all of them train on one commit."""
    return [f"{dotted}={value}" for dotted, value in named_checkpoints(params).items() if dotted in params.hub_pins]


def pin_as_resolved(params: Params) -> Params:
    """params pinned as the pipeline's resolved params file pins them, when it does (a DVC stage after the resolve
    stage: every stage then trains and records the commit dvc.lock records, without asking the Hub again); else
    resolved here."""
    import yaml

    from tasks.core.resolved import resolved_path

    path = resolved_path(params)
    try:
        # Written from the params file as it is now (not an older version of it), or it pins what it no longer asks.
        fresh = path.stat().st_mtime >= Path(params.source_file).stat().st_mtime
        resolved = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if fresh else {}
    except (OSError, yaml.YAMLError):
        resolved = {}
    known = {}
    for dotted, value in named_checkpoints(params).items():
        asked, section, key = parse_hub_id(value), *dotted.split(".")
        found = parse_hub_id(str((resolved.get(section) or {}).get(key) or ""))
        if asked and found and found.repo_id == asked.repo_id and COMMIT.fullmatch(found.revision):
            known[dotted] = HubModel(asked.repo_id, asked.revision, found.revision)
    return pin_params(params, known)

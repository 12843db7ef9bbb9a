"""card: the registered version's model card, MODEL_CARD.md and its JSON twin, built from what its steps recorded
in the registry (tasks/model_card/), logged on the version's run and written under paths.card. Reading the registry
is this step's job, so MLflow is used here directly.

The card holds when and how long (the run's start, training seconds): facts of a run, so under DVC the card is no
stage output; the registry keeps every version's card and `lmforge card VERSION` prints and checks it."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from tasks.core.config import Params
from tasks.core.errors import redact_error
from tasks.core.runtime import run_entry, step

CARD_MD, CARD_JSON, ARTIFACT_PATH = "MODEL_CARD.md", "model_card.json", "card"
CARD_TAG = "model_card"  # on the version: where its card lies on the run


def version_sources(params: Params, version: str, name: str | None = None):
    """The records of the registered version `version` names (any form of tasks.registry.model_refs) of the model
    `name` (default this project's)."""
    from tasks.model_card.sources import VersionSources
    from tasks.registry import tracking
    from tasks.registry.model_refs import find_model_version, parse_model_ref

    client = tracking.client(params)
    ref = parse_model_ref(version, name or params.registry.model_name, params.registry.champion_alias)
    return VersionSources(client, find_model_version(client, ref))


def write_card(params: Params, sources, write_local: bool = True) -> tuple[dict, str, Path]:
    """Build the card from `sources`, log it on the version's run and tag the version; with `write_local`, also
    under paths.card (the flow's and DVC's: the card of the version they registered). (JSON, Markdown, where)."""
    from tasks.model_card.build import build_card
    from tasks.model_card.render import render_card

    card = build_card(sources)
    markdown = render_card(card)
    found = sources.version
    sources.client.log_text(found.run_id, markdown, f"{ARTIFACT_PATH}/{CARD_MD}")
    sources.client.log_dict(found.run_id, card, f"{ARTIFACT_PATH}/{CARD_JSON}")
    sources.client.set_model_version_tag(found.name, str(found.version), CARD_TAG, f"{ARTIFACT_PATH}/{CARD_MD}")
    if not write_local:
        return card, markdown, Path(f"{ARTIFACT_PATH}/{CARD_MD}")
    out = Path(params.paths.card)
    out.mkdir(parents=True, exist_ok=True)
    (out / CARD_JSON).write_text(json.dumps(card, indent=1))
    (out / CARD_MD).write_text(markdown)
    return card, markdown, out / CARD_MD


def publish_card(params: Params, version: str, name: str | None = None, write_local: bool = True) -> Path:
    """The card of `version` built from the registry and logged (write_card); where it was written."""
    return write_card(params, version_sources(params, version, name), write_local)[2]


def preview_card(params: Params, version: str) -> str:
    """The card as it stands before the gate's decision is recorded (what an approver reads), not logged."""
    from tasks.model_card.build import build_card
    from tasks.model_card.render import render_card

    return render_card(build_card(version_sources(params, version)))


class UnreadableCard(ValueError):
    """A card was logged on the version, but its files cannot be read: a damaged card is a failed check, never a
    reason to build a new one that then holds."""


def read_card(sources) -> tuple[dict, str] | None:
    """The card logged on the version's run (JSON twin, Markdown), or None when it has none yet; UnreadableCard
    when one was logged and its files are missing or damaged."""
    from mlflow.exceptions import MlflowException

    logged = {Path(item.path).name for item in sources.client.list_artifacts(sources.version.run_id, ARTIFACT_PATH)}
    if not logged:
        return None
    with tempfile.TemporaryDirectory() as folder:
        try:
            path = Path(sources.client.download_artifacts(sources.version.run_id, ARTIFACT_PATH, folder))
            return json.loads((path / CARD_JSON).read_text()), (path / CARD_MD).read_text()
        except (MlflowException, OSError, ValueError) as error:
            raise UnreadableCard(f"its logged card cannot be read ({type(error).__name__}: "
                                 f"{redact_error(error, 160)})") from None


@step
def card(params: Params, version: str) -> str:
    return str(publish_card(params, version))


def main(params: Params) -> None:
    from tasks.register import read_registered

    print(publish_card(params, read_registered(params).version))


if __name__ == "__main__":
    run_entry(main)

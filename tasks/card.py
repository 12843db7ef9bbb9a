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
from tasks.core.errors import LmforgeError
from tasks.core.runtime import run_entry, step

CARD_MD, CARD_JSON, ARTIFACT_PATH = "MODEL_CARD.md", "model_card.json", "card"
CARD_TAG = "model_card"  # on the version: where its card lies on the run


def get_version(params: Params, version: str, name: str | None = None):
    """The registered version VERSION (a number, or @ALIAS) of the model `name` (default this project's)."""
    from mlflow.exceptions import MlflowException

    from tasks.registry import tracking

    client, name = tracking.client(params), name or params.registry.model_name
    try:
        if version.startswith("@"):
            return client.get_model_version_by_alias(name, version[1:])
        return client.get_model_version(name, version)
    except MlflowException:
        raise LmforgeError(f"{name} has no version {version}; `lmforge models` lists the versions.") from None


def version_sources(params: Params, version: str, name: str | None = None):
    from tasks.model_card.sources import VersionSources
    from tasks.registry import tracking

    return VersionSources(tracking.client(params), get_version(params, version, name))


def publish_card(params: Params, version: str, name: str | None = None, write_local: bool = True) -> Path:
    """Build the card of `version` from the registry, log it on its run and tag the version; with `write_local`, also
    under paths.card (the flow's and DVC's: the card of the version they registered)."""
    from tasks.model_card.build import build_card
    from tasks.model_card.render import render_card

    sources = version_sources(params, version, name)
    card = build_card(sources)
    markdown = render_card(card)
    found = sources.version
    sources.client.log_text(found.run_id, markdown, f"{ARTIFACT_PATH}/{CARD_MD}")
    sources.client.log_dict(found.run_id, card, f"{ARTIFACT_PATH}/{CARD_JSON}")
    sources.client.set_model_version_tag(found.name, str(found.version), CARD_TAG, f"{ARTIFACT_PATH}/{CARD_MD}")
    if not write_local:
        return Path(f"{ARTIFACT_PATH}/{CARD_MD}")
    out = Path(params.paths.card)
    out.mkdir(parents=True, exist_ok=True)
    (out / CARD_JSON).write_text(json.dumps(card, indent=1))
    (out / CARD_MD).write_text(markdown)
    return out / CARD_MD


def read_card(params: Params, version: str) -> tuple[dict, str] | None:
    """The card logged on the version's run (JSON twin, Markdown), or None when it has none yet."""
    from mlflow.exceptions import MlflowException

    sources = version_sources(params, version)
    with tempfile.TemporaryDirectory() as folder:
        try:
            path = Path(sources.client.download_artifacts(sources.version.run_id, ARTIFACT_PATH, folder))
            return json.loads((path / CARD_JSON).read_text()), (path / CARD_MD).read_text()
        except (MlflowException, OSError, ValueError):
            return None


def check_logged_card(params: Params, version: str, card: dict, markdown: str | None) -> list[str]:
    """Each figure of the card against the registry as it is now, and the Markdown against the figures."""
    from tasks.model_card.check import check_card

    return check_card(card, markdown, version_sources(params, version))


@step
def card(params: Params, version: str) -> str:
    return str(publish_card(params, version))


def main(params: Params) -> None:
    from tasks.register import read_registered

    print(publish_card(params, read_registered(params).version))


if __name__ == "__main__":
    run_entry(main)

"""Where each figure of a model card comes from: a version's registry tags and dates, its run's params, metrics and
times, and the JSON files its steps logged on the run. The card's builder and its check read through this one
resolver, so a figure that no longer matches its record is found."""

from __future__ import annotations

import ast
import json
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ORIGINS = ("version", "tag", "param", "metric", "run", "artifact")
NOT_RECORDED = "not recorded"


def stamp(milliseconds: int | None) -> str | None:
    if not milliseconds:
        return None
    return datetime.fromtimestamp(milliseconds / 1000, timezone.utc).isoformat(timespec="seconds")


def parse_param(text: str | None) -> Any:
    """A run param as logged (params are flattened to strings): lists and mappings come back as values; the rest
    stays the string MLflow holds."""
    if text is None or not text[:1] in "[{":
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def pick(tree: Any, key: list) -> Any:
    for part in key:
        if isinstance(tree, dict) and part in tree:
            tree = tree[part]
        elif isinstance(tree, list) and isinstance(part, int) and -len(tree) <= part < len(tree):
            tree = tree[part]
        else:
            return None
    return tree


class VersionSources:
    """What the registry holds about one version, read lazily and once."""

    def __init__(self, client, version) -> None:
        self.client, self.version = client, version
        self._run, self._files = None, {}

    @property
    def run(self):
        if self._run is None:
            self._run = self.client.get_run(self.version.run_id)
        return self._run

    def artifact(self, path: str) -> Any:
        """A JSON file logged on the version's run, or None when the run has none there."""
        from mlflow.exceptions import MlflowException

        if path not in self._files:
            with tempfile.TemporaryDirectory() as folder:
                try:
                    self._files[path] = json.loads(Path(self.client.download_artifacts(
                        self.version.run_id, path, folder)).read_text())
                except (MlflowException, OSError, ValueError):
                    self._files[path] = None
        return self._files[path]

    def read(self, origin: str, name: str, key: list | None = None) -> Any:
        if origin == "version":
            return {"name": self.version.name, "version": str(self.version.version),
                    "created": stamp(self.version.creation_timestamp)}.get(name)
        if origin == "tag":
            return self.version.tags.get(name)
        if origin == "param":
            return parse_param(self.run.data.params.get(name))
        if origin == "metric":
            return self.run.data.metrics.get(name)
        if origin == "run":
            return {"run_id": self.run.info.run_id, "started": stamp(self.run.info.start_time)}.get(name)
        if origin == "artifact":
            return pick(self.artifact(name), key or [])
        raise ValueError(f"unknown origin {origin!r}; one of {', '.join(ORIGINS)}")


def make_fact(sources, label: str, origin: str, name: str, *key, missing: str = NOT_RECORDED, absent: str = "none",
              blank: bool = False, count: bool = False) -> dict:
    """One figure of the card: its value now, and where it was read (so that the check can read it again).
    Shown instead of a value: `missing` when its record is not there, `absent` when a file that is there holds none
    (with `blank`, also when the value is empty). `count` shows a whole number."""
    fact = {"label": label, "value": sources.read(origin, name, list(key)), "from": origin, "name": name}
    if key:
        fact["key"] = list(key)
    present = origin == "artifact" and sources.artifact(name) is not None
    if fact["value"] is None or (blank and fact["value"] in ("", [])):
        fact["missing"] = absent if present else missing
    if count:
        fact["count"] = True
    return fact

"""One way to name a registered version, for every command that takes one: `N`, `@ALIAS`, `NAME/N`, `NAME@ALIAS` or
`models:/NAME/N` / `models:/NAME@ALIAS`; the name left out is the params' own model (registry.model_name)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tasks.core.errors import LmforgeError

FORMS = "N, @ALIAS, NAME/N, NAME@ALIAS or models:/NAME/N (or models:/NAME@ALIAS)"
# MLflow's registered names may hold most characters; a version is digits, an alias a word (MLflow's own rule).
PATTERN = re.compile(r"(?P<name>[^/@]*)(?:/(?P<version>\d+)|@(?P<alias>[A-Za-z_][\w-]*))")


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str | None = None  # a number, or None where an alias names the version
    alias: str | None = None

    @property
    def uri(self) -> str:
        """MLflow's models:/ URI of it."""
        return f"models:/{self.name}/{self.version}" if self.version else f"models:/{self.name}@{self.alias}"

    def __str__(self) -> str:
        return f"{self.name} version {self.version}" if self.version else f"{self.name}@{self.alias}"


def parse_model_ref(value: str | None, model_name: str, default_alias: str = "champion") -> ModelRef:
    """The version `value` names; None or "" is the model's `default_alias`. A bare number is a version of
    `model_name`, as is @ALIAS; anything else is refused in one sentence that lists the forms."""
    text = (value or "").strip()
    if not text:
        return ModelRef(model_name, alias=default_alias)
    if re.fullmatch(r"\d+", text, re.ASCII):
        return ModelRef(model_name, version=str(int(text)))
    found = PATTERN.fullmatch(text.removeprefix("models:/"))
    if found is None or (text.startswith("models:/") and not found.group("name")):
        raise LmforgeError(f"{value!r} names no model version; write {FORMS} (docs/cli.md).")
    version = found.group("version")
    return ModelRef(found.group("name") or model_name, str(int(version)) if version else None, found.group("alias"))


def require_own_model(ref: ModelRef, model_name: str, what: str) -> None:
    """Commands that act with the params' pipeline (promote, export, serve) take only its own model's versions."""
    if ref.name != model_name:
        raise LmforgeError(f"{ref}: {what} works on the model of its params file, {model_name}; name a version of it "
                           f"or give --params the params file of {ref.name}'s pipeline.")


def find_model_version(client, ref: ModelRef):
    """The registered version `ref` names, or one sentence saying it is not there."""
    from mlflow.exceptions import MlflowException

    try:
        if ref.version:
            return client.get_model_version(ref.name, ref.version)
        return client.get_model_version_by_alias(ref.name, ref.alias)
    except MlflowException:
        missing = f"version {ref.version}" if ref.version else f"@{ref.alias}"
        raise LmforgeError(f"{ref.name} has no {missing}; `lmforge models` lists the versions and aliases.") from None

"""The batch scoring flow: a registered model over a file, every answer logged; it only wires the score step."""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow

from tasks.core.config import load_params
from tasks.registry import tracking
from tasks.registry.model_refs import parse_model_ref
from tasks.score import score


@flow(name="score")
def score_flow(source: str, out: str, params_path: str = "params.yaml", overrides: list[str] | None = None,
               model_uri: str | None = None, backend: str = "eager", batch_rows: int = 64) -> dict:
    """Predictions for each input of `source`, written to `out` with the version that made them."""
    params = load_params(params_path, overrides)
    tracking.check_server(params)
    uri = parse_model_ref(model_uri, params.registry.model_name, params.registry.champion_alias).uri
    return asdict(score(params, source, out, uri, backend, batch_rows))

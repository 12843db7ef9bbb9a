"""The monitor flow: the champion's recent answers against its test split; deployable on its own schedule."""

from __future__ import annotations

from prefect import flow

from tasks.core.config import load_params
from tasks.monitor import monitor
from tasks.registry import tracking


@flow(name="monitor")
def monitor_flow(params_path: str = "params.yaml", overrides: list[str] | None = None,
                 source: str | None = None) -> dict:
    """One monitor run: the drift tests, a run in the monitoring experiment, an artifact and an event. `source`: a
    new data file to compare instead of the logged requests."""
    params = load_params(params_path, overrides)
    tracking.check_server(params)
    return monitor(params, source).to_dict()

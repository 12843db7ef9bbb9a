"""One register-and-promote at a time per registered model, across every worker of one Prefect server.

Each run's promotion gate compares its model with the champion it reads, then moves the alias. Two runs on two
machines (their own project folders, so the project's file lock does not see both) could both read "no champion"
or the same old one and both promote: the alias ends on one version while both records say promoted. A Prefect
global concurrency limit of 1, named after the registered model, makes the second run wait until the first has
moved the alias; it then compares against the new champion. The limit is created on first use.

Only against a long-lived Prefect server (PREFECT_API_URL set by the user, a worker or `lmforge ui`): a plain
`lmforge run` talks to a temporary server of its own, which keeps leases in memory and dies with the run, so a run
killed holding the slot would leave it taken for good in the project's Prefect database. On one machine the project's
file lock already serialises runs of one folder."""

from __future__ import annotations

import os
from contextlib import contextmanager

from tasks.core.config import Params


def limit_name(params: Params) -> str:
    return f"lmforge-registry-{params.registry.model_name}"


@contextmanager
def registry_turn(params: Params):
    from tasks.servers.prefect_api import TEMPORARY_API

    if not os.environ.get("PREFECT_API_URL") or os.environ.get(TEMPORARY_API) == "1":
        yield
        return
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.concurrency.sync import concurrency
    from prefect.exceptions import ObjectAlreadyExists

    name = limit_name(params)
    with get_client(sync_client=True) as client:
        try:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
        except ObjectAlreadyExists:  # an earlier run made it
            pass
    # strict: without the limit this would silently not wait, which is the race it exists to prevent.
    # A run killed while holding the slot stops renewing its lease; the server frees the slot after the minimum, 60 s.
    with concurrency(name, occupy=1, timeout_seconds=params.schedule.lock_timeout_s, lease_duration=60, strict=True):
        yield

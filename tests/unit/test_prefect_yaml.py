"""prefect.yaml as `prefect deploy` reads it: both deployments point at flows that exist, and the retrain trigger is
a valid deployment trigger on the event the monitor emits."""

import importlib

import pytest
import yaml

from tests.conftest import REPO


def test_deployments_and_the_retrain_trigger_are_valid():
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    deployments = {deployment["name"]: deployment for deployment in spec["deployments"]}
    assert set(deployments) == {"lmforge-retrain", "lmforge-monitor"}
    for deployment in deployments.values():
        path, _, function = deployment["entrypoint"].partition(":")
        flow = getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), function)
        assert set(deployment["parameters"]) <= set(flow.parameters.properties), deployment["name"]
    drift, data = [DeploymentEventTrigger.model_validate(item) for item in deployments["lmforge-retrain"]["triggers"]]
    assert drift.expect == {"lmforge.retrain.requested"} and data.expect == {"lmforge.data.changed"}
    for trigger in (drift, data):
        assert trigger.enabled and trigger.within.total_seconds() == 300 and trigger.threshold == 1
        assert trigger.for_each == {"prefect.resource.id"}
        assert "event.payload.params_path" in trigger.parameters["params_path"]
        assert set(trigger.parameters) <= set(deployments["lmforge-retrain"]["parameters"]) | {"trigger"}
    (schedule,) = deployments["lmforge-retrain"]["schedules"]
    assert schedule["parameters"] == {"trigger": "schedule"}


def test_no_params_file_schedules_a_deployment_prefect_yaml_declares():
    """`lmforge schedule` and `prefect deploy` would take retrain/NAME from each other: the names never meet."""
    from tasks.servers.deployments import check_undeclared
    from tasks.core.config import load_params
    from tasks.core.errors import LmforgeError

    files = [REPO / "params.yaml", *REPO.glob("params.*.yaml"), *(REPO / "configs").glob("*.yaml")]
    for file in files:
        check_undeclared(load_params(file).schedule.name, REPO / "prefect.yaml")
    with pytest.raises(LmforgeError, match=r"^retrain/lmforge-retrain is the deployment .*prefect.yaml declares for a "
                                           r"work pool; give `lmforge schedule` another name \(--name"):
        check_undeclared("lmforge-retrain", REPO / "prefect.yaml")

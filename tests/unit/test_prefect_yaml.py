"""prefect.yaml as `prefect deploy` reads it: both deployments point at flows that exist, and the retrain trigger is
a valid deployment trigger on the event the monitor emits."""

import importlib

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

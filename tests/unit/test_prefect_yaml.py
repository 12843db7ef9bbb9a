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
    (trigger,) = [DeploymentEventTrigger.model_validate(item) for item in deployments["lmforge-retrain"]["triggers"]]
    assert trigger.expect == {"lmforge.retrain.requested"} and trigger.enabled
    assert "event.payload.params_path" in trigger.parameters["params_path"]

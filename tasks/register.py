"""register: log the model to MLflow, register a version with its lineage tags, point the alias at it."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

from tasks.core.config import Params
from tasks.core.faults import failpoint
from tasks.kinds import get_kind
from tasks.core.records import ModelVersion
from tasks.core.runtime import run_entry, step

# Pinned in the logged model so that serving it elsewhere installs what trained it (and pip's 14 s inference is skipped).
SERVING_PACKAGES = ("torch", "transformers", "tokenizers", "safetensors", "mlflow")


def lineage_tags(params: Params, data_version: str, validation_success: bool, run_id: str) -> dict[str, str]:
    """What a registered version carries so that its data (dvc) and config can be found again."""
    from tasks import __version__
    from tasks.core.errors import redact
    from tasks.hub.pins import hub_tags
    from tasks.hub.sources import source_tags
    from tasks.registry.tracking import git_commit, git_dirty

    return {"data_version": data_version, "data_source": redact(params.data.source), "git_commit": git_commit(),
            "git_dirty": git_dirty(),
            "params_hash": params.section_hash(), "inputs_hash": params.inputs_hash(), "lmforge_version": __version__,
            "validation_success": str(validation_success).lower(), "run_id": run_id, "task": params.task,
            **hub_tags(params), **source_tags(params)}


def register_model(params: Params, model_dir: str | Path, run_id: str, tags: dict[str, str]) -> ModelVersion:
    """Log the model on the run (a pyfunc over the model folder), register it, set the alias."""
    import mlflow

    from tasks.registry import tracking

    registry = tracking.client(params)
    requirements = [f"{name}=={version(name)}" for name in SERVING_PACKAGES]
    with mlflow.start_run(run_id=run_id):
        info = get_kind(params.task).log_model(model_dir, requirements)
    registered = mlflow.register_model(info.model_uri, params.registry.model_name, tags=tags)
    failpoint("register:registered")  # a version with its files, no alias, no verdict: the next run registers anew
    try:
        registry.set_registered_model_alias(params.registry.model_name, params.registry.alias, registered.version)
    except Exception:
        # A version without its alias would look like a finished registration: take it back.
        registry.delete_model_version(params.registry.model_name, registered.version)
        raise
    result = ModelVersion(name=params.registry.model_name, version=str(registered.version), alias=params.registry.alias,
                          tags=tags, run_id=run_id)
    write_registered(params, result)
    return result


def write_registered(params: Params, result: ModelVersion) -> None:
    """registered.json: the version register added. Its MLflow run is a fact of the run, not of what was registered
    (and differs each time): the registry keeps it, read_registered looks it up."""
    from tasks.core.run_record import split_facts

    made = {"name": result.name, "version": result.version, "alias": result.alias,
            "tags": split_facts(result.tags, ("run_id",))[0]}
    Path(params.paths.registered).write_text(json.dumps(made, indent=1))


def read_registered(params: Params) -> ModelVersion:
    """Under DVC: the version the register stage added, with its run from the registry."""
    from tasks.registry import tracking

    made = json.loads(Path(params.paths.registered).read_text())
    run_id = tracking.client(params).get_model_version(made["name"], made["version"]).run_id
    return ModelVersion(**made | {"tags": made["tags"] | {"run_id": run_id}}, run_id=run_id)


def read_model_tags(model_dir: str | Path) -> dict[str, str]:
    """The weights' digest and the training environment's fingerprint (env_* tags), from the model folder's record
    (none in older ones); a LoRA adapter's base (lora_base)."""
    from tasks.decoders.adapters import base_tags
    from tasks.training.checkpoints import WEIGHTS_KEY, read_model_meta
    from tasks.training.environment import environment_tags

    meta = read_model_meta(model_dir, missing_ok=True)
    weights = {WEIGHTS_KEY: meta[WEIGHTS_KEY]} if meta.get(WEIGHTS_KEY) else {}
    return weights | environment_tags(meta.get("environment", {})) | base_tags(model_dir)


@step
def register(params: Params, model_dir: str, run_id: str, data_version: str, validation_success: bool) -> ModelVersion:
    from tasks.registry import tracking

    tags = lineage_tags(params, data_version, validation_success, run_id) | read_model_tags(model_dir)
    tracking.set_tags(params, run_id, tags)
    return register_model(params, model_dir, run_id, tags)


def main(params: Params) -> None:
    """Under DVC: the data version comes from dvc.lock; the dataset goes to the remote before the model is registered."""
    from tasks.registry import tracking
    from tasks.validate import read_report
    from tasks.data.feedback_ledger import claim_taken
    from tasks.data.versioning import version_output

    # dvc repro has recorded the dataset in dvc.lock already; this pushes it and reads its hash.
    data_version = version_output(params, record=False)
    claim_taken(params, data_version)  # what ingest's stage took of the feedback, now under its data version
    run_id = tracking.model_run(params)
    tags = lineage_tags(params, data_version, read_report(params).success, run_id) | read_model_tags(params.paths.model)
    tracking.set_tags(params, run_id, tags)
    print(register_model(params, params.paths.model, run_id, tags))
    tracking.end_run(params, run_id)


if __name__ == "__main__":
    run_entry(main)

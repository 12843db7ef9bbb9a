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
    from tasks.registry.tracking import git_commit, git_dirty

    return {"data_version": data_version, "data_source": params.data.source, "git_commit": git_commit(),
            "git_dirty": git_dirty(),
            "params_hash": params.section_hash(), "inputs_hash": params.inputs_hash(), "lmforge_version": __version__,
            "validation_success": str(validation_success).lower(), "run_id": run_id, "task": params.task}


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
    Path(params.paths.registered).write_text(json.dumps(result.__dict__, indent=1))
    return result


def read_environment(model_dir: str | Path) -> dict[str, str]:
    """The training environment's fingerprint as env_* tags, from the model folder's record (none in older ones)."""
    from tasks.training.checkpoints import MODEL_META
    from tasks.training.environment import environment_tags

    meta = Path(model_dir) / MODEL_META
    return environment_tags(json.loads(meta.read_text()).get("environment", {})) if meta.is_file() else {}


@step
def register(params: Params, model_dir: str, run_id: str, data_version: str, validation_success: bool) -> ModelVersion:
    from tasks.registry import tracking

    tags = lineage_tags(params, data_version, validation_success, run_id) | read_environment(model_dir)
    tracking.set_tags(params, run_id, tags)
    return register_model(params, model_dir, run_id, tags)


def main(params: Params) -> None:
    """Under DVC: the data version comes from dvc.lock; the dataset goes to the remote before the model is registered."""
    from tasks.registry import tracking
    from tasks.training.checkpoints import read_model_meta
    from tasks.validate import read_report
    from tasks.data.versioning import version_output

    # dvc repro has recorded the dataset in dvc.lock already; this pushes it and reads its hash.
    data_version = version_output(params, record=False)
    run_id = read_model_meta(params.paths.model)["run_id"]
    tags = lineage_tags(params, data_version, read_report(params).success, run_id) | read_environment(params.paths.model)
    tracking.set_tags(params, run_id, tags)
    print(register_model(params, params.paths.model, run_id, tags))
    tracking.end_run(params, run_id)


if __name__ == "__main__":
    run_entry(main)

"""What the registry holds about a version, as a rebuild needs it: its lineage tags, the model files with their
lmforge.json (params, environment, steps, budget), its test predictions and metrics, and how long its run took."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from tasks.core.errors import LmforgeError

# Records of when and where (times, folders, run ids), not of what was built; the params are compared by their hash.
NOT_COMPARED = {"lmforge.json", "run.json", "MLmodel", "training_args.bin"}


@dataclass
class VersionRecord:
    name: str
    version: str
    run_id: str
    tags: dict[str, str]
    meta: dict  # the model folder's lmforge.json
    files: dict[str, str]  # sha256 of each model file, by path in the model folder
    predictions: list[str] | None
    metrics: dict[str, float]
    run_seconds: float | None  # the training run's wall (MLflow start to end), for the rebuild's ratio
    notes: list[str] = field(default_factory=list)


def hash_model_files(folder: Path) -> dict[str, str]:
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file() and path.name not in NOT_COMPARED}


def download_model(name: str, version: str, target: Path) -> Path:
    """The version's model folder (the pyfunc's `model` artifact: the trained folder, byte for byte)."""
    import mlflow

    mlflow.artifacts.download_artifacts(f"models:/{name}/{version}", dst_path=str(target))
    found = next((meta.parent for meta in target.rglob("lmforge.json")), None)
    if found is None:
        raise LmforgeError(f"{name} version {version} holds no lmforge.json; it was not registered by lmforge's "
                           "train step and cannot be rebuilt.")
    return found


def read_version(params, uri: str, scratch: Path) -> VersionRecord:
    """Everything recorded about the version `uri` names (any form of tasks.registry.model_refs); its model files
    go under `scratch`."""
    from tasks.registry import tracking
    from tasks.registry.model_refs import find_model_version, parse_model_ref

    client = tracking.client(params)
    version = find_model_version(client, parse_model_ref(uri, params.registry.model_name,
                                                         params.registry.champion_alias))
    name, number = version.name, str(version.version)
    model = download_model(name, number, scratch / "registered")
    meta = json.loads((model / "lmforge.json").read_text())
    run = client.get_run(version.run_id)
    seconds = (run.info.end_time - run.info.start_time) / 1000 if run.info.end_time else None
    return VersionRecord(name=name, version=number, run_id=version.run_id, tags=dict(version.tags), meta=meta,
                         files=hash_model_files(model),
                         predictions=read_run_predictions(client, version.run_id, scratch),
                         metrics={key: value for key, value in run.data.metrics.items() if key.startswith("eval_")},
                         run_seconds=seconds)


def read_run_predictions(client, run_id: str, scratch: Path) -> list[str] | None:
    """The test predictions evaluate logged on the run (None for a run that logged none)."""
    import pandas as pd
    from mlflow.exceptions import MlflowException

    from tasks.registry.predictions import ARTIFACT_PATH, PREDICTIONS_FILE

    try:
        path = client.download_artifacts(run_id, f"{ARTIFACT_PATH}/{PREDICTIONS_FILE}", str(scratch))
    except (MlflowException, OSError):
        return None
    return pd.read_parquet(path)["predicted"].astype(str).tolist()


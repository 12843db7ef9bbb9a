"""Test-split predictions, written once by evaluate and read by promote, so no model is scored twice on the same rows.

evaluate writes the challenger's beside its metrics and logs them on its MLflow run; promote reads the challenger's
from disk and, when the champion was evaluated on the same data version, the champion's from its run.
"""

from __future__ import annotations

from pathlib import Path

from tasks.core.config import Params

PREDICTIONS_FILE = "predictions.parquet"
ARTIFACT_PATH = "evaluation"  # where log_evaluation puts them on the run


def write_predictions(params: Params, model_dir: str | Path, predicted: list[str]) -> Path:
    """Each test row's prediction (a label, or generated text), tagged with the MLflow run of the model."""
    import json

    import pandas as pd

    meta = Path(model_dir) / "lmforge.json"
    run_id = json.loads(meta.read_text()).get("run_id", "") if meta.is_file() else ""
    path = Path(params.paths.metrics) / PREDICTIONS_FILE
    pd.DataFrame({"predicted": predicted, "model_run": run_id}).to_parquet(path, index=False)
    return path


def read_frame(path: Path, run_id: str, rows: int) -> list[str] | None:
    """The predictions in the file when they are this run's model's, one per test row; else None."""
    import pandas as pd

    if not path.is_file():
        return None
    frame = pd.read_parquet(path)
    if len(frame) != rows or not run_id or set(frame["model_run"]) != {run_id}:
        return None
    return frame["predicted"].astype(str).tolist()


def read_predictions(params: Params, run_id: str, rows: int) -> list[str] | None:
    """The saved predictions of the model of this run on these `rows` test rows, or None (then promote scores it)."""
    return read_frame(Path(params.paths.metrics) / PREDICTIONS_FILE, run_id, rows)


def fetch_run_predictions(client, version, data_version: str, rows: int) -> list[str] | None:
    """A registered version's own test predictions, logged by its evaluate, when it was evaluated on this data
    version (then its test split is these rows); None otherwise, or when the run has none (older runs)."""
    import tempfile

    from mlflow.exceptions import MlflowException

    if version.tags.get("data_version") != data_version or not version.run_id:
        return None
    with tempfile.TemporaryDirectory() as folder:
        try:
            path = client.download_artifacts(version.run_id, f"{ARTIFACT_PATH}/{PREDICTIONS_FILE}", folder)
        except (MlflowException, OSError):
            return None
        return read_frame(Path(path), version.run_id, rows)

"""Test-split predictions, written once by evaluate and read by promote, so no model is scored twice on the same rows.

evaluate writes the challenger's beside its metrics and logs them on its MLflow run; promote reads the challenger's
from disk and, when the champion was evaluated on the same data version, the champion's from its run.
"""

from __future__ import annotations

from pathlib import Path

from tasks.core.config import Params
from tasks.training.checkpoints import WEIGHTS_KEY, read_model_meta

PREDICTIONS_FILE = "predictions.parquet"
ARTIFACT_PATH = "evaluation"  # where log_evaluation puts them on the run


def write_predictions(params: Params, model_dir: str | Path, predicted: list[str]) -> Path:
    """Each test row's prediction (a label, or generated text), tagged with the model's weights digest: what the
    model is, not which run made it, so that the same model gives the same file."""
    import pandas as pd

    weights = read_model_meta(model_dir, missing_ok=True).get(WEIGHTS_KEY, "")
    path = Path(params.paths.metrics) / PREDICTIONS_FILE
    pd.DataFrame({"predicted": predicted, "model": weights}).to_parquet(path, index=False)
    return path


def read_frame(path: Path, weights: str, rows: int) -> list[str] | None:
    """The predictions in the file when they are of the model with these weights, one per test row; else None."""
    import pandas as pd

    if not path.is_file() or not weights:
        return None
    frame = pd.read_parquet(path)
    if len(frame) != rows or "model" not in frame or set(frame["model"]) != {weights}:
        return None
    return frame["predicted"].astype(str).tolist()


def read_predictions(params: Params, version, rows: int) -> list[str] | None:
    """The saved predictions of a registered version's model on these `rows` test rows, or None (then promote
    scores it)."""
    return read_frame(Path(params.paths.metrics) / PREDICTIONS_FILE, version.tags.get(WEIGHTS_KEY, ""), rows)


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
        return read_frame(Path(path), version.tags.get(WEIGHTS_KEY, ""), rows)

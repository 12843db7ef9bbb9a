"""The challenger's test predictions, written once by evaluate and read by promote, so no model is scored twice."""

from __future__ import annotations

from pathlib import Path

from tasks.config import Params

PREDICTIONS_FILE = "predictions.parquet"


def write_predictions(params: Params, model_dir: str | Path, predicted: list[str]) -> Path:
    """Each test row's prediction (a label, or generated text), tagged with the MLflow run of the model."""
    import json

    import pandas as pd

    meta = Path(model_dir) / "lmforge.json"
    run_id = json.loads(meta.read_text()).get("run_id", "") if meta.is_file() else ""
    path = Path(params.paths.metrics) / PREDICTIONS_FILE
    pd.DataFrame({"predicted": predicted, "model_run": run_id}).to_parquet(path, index=False)
    return path


def read_predictions(params: Params, run_id: str, rows: int) -> list[str] | None:
    """The saved predictions of the model of this run on these `rows` test rows, or None (then promote scores it)."""
    import pandas as pd

    path = Path(params.paths.metrics) / PREDICTIONS_FILE
    if not path.is_file():
        return None
    frame = pd.read_parquet(path)
    if len(frame) != rows or not run_id or set(frame["model_run"]) != {run_id}:
        return None
    return frame["predicted"].astype(str).tolist()

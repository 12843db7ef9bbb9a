"""predict: load a registered model by URI and label texts (used by `lmforge predict`)."""

from __future__ import annotations

from pathlib import Path

from tasks.config import Params
from tasks.errors import LmforgeError


def load_texts(path: Path, column: str) -> list[str]:
    from tasks.sources import pick_columns, read_table

    frame = pick_columns(read_table(path), {"text_column": column}, str(path))
    return frame["text"].fillna("").astype(str).tolist()


def predict_texts(params: Params, model_uri: str, texts: list[str]) -> list[tuple[str, float]]:
    """(label, score) per text from the model at `model_uri` (models:/name@alias, runs:/..., a path)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from tasks import tracking

    tracking.client(params)
    try:
        classifier = mlflow.transformers.load_model(model_uri)
    except MlflowException as error:
        raise LmforgeError(f"cannot load {model_uri} from {tracking.tracking_uri(params)} "
                           f"({str(error).splitlines()[0][:160]}); run `lmforge run` first or check --model.") from None
    return [(row["label"], float(row["score"])) for row in classifier(texts, truncation=True)]

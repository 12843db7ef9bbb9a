"""predict: load a registered model by URI and label texts (used by `lmforge predict`)."""

from __future__ import annotations

from pathlib import Path

from tasks.config import Params
from tasks.errors import LmforgeError


def load_texts(path: Path, column: str) -> list[str]:
    from tasks.sources import pick_columns, read_table

    frame = pick_columns(read_table(path), {"text_column": column}, str(path))
    return frame["text"].fillna("").astype(str).tolist()


def load_registered(params: Params, model_uri: str):
    """The model at `model_uri` (models:/name@alias, runs:/..., a path): a transformers pipeline, or a seq2seq pyfunc."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from tasks import tracking

    tracking.client(params)
    try:
        if params.task == "seq2seq":
            return mlflow.pyfunc.load_model(model_uri)
        return mlflow.transformers.load_model(model_uri)
    except MlflowException as error:
        hint = " (no champion yet? try --model models:/NAME@challenger)" if "@" in model_uri else ""
        raise LmforgeError(f"cannot load {model_uri} from {tracking.tracking_uri(params)}{hint} "
                           f"({str(error).splitlines()[0][:160]}); run `lmforge run` first or check --model.") from None


def predict_texts(params: Params, model_uri: str, texts: list[str]) -> list[tuple[str, float | None]]:
    """(label, score) per text; for seq2seq (output text, None)."""
    model = load_registered(params, model_uri)
    if params.task == "seq2seq":
        return [(output, None) for output in model.predict(texts)]
    return [(row["label"], float(row["score"])) for row in model(texts, truncation=True)]

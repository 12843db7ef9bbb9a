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


def find_version(client, model_uri: str):
    """The registered version a models:/NAME@ALIAS or models:/NAME/N URI names, or None."""
    from mlflow.exceptions import MlflowException

    path = model_uri.removeprefix("models:/")
    if path == model_uri:
        return None
    try:
        if "@" in path:
            return client.get_model_version_by_alias(*path.split("@", 1))
        return client.get_model_version(*path.rsplit("/", 1))
    except (MlflowException, TypeError):
        return None


def fetch_export(params: Params, model_uri: str, backend: str) -> Path:
    """The exported files of a registered version, when its `backend` export passed parity; else one sentence."""
    import json

    from tasks import tracking
    from tasks.export import PARITY_FILE, export_dir, holds_run

    client = tracking.client(params)
    version = find_version(client, model_uri)
    if version is None:
        raise LmforgeError(f"--backend {backend} needs a registered version (models:/NAME@ALIAS or models:/NAME/N), "
                           f"not {model_uri}.")
    local = export_dir(params)
    if not holds_run(local, version.run_id):
        import tempfile

        from mlflow.exceptions import MlflowException

        try:
            local = Path(client.download_artifacts(version.run_id, "export", tempfile.mkdtemp(prefix="lmforge-export-")))
        except (MlflowException, OSError):  # never exported
            local = Path(tempfile.mkdtemp(prefix="lmforge-export-"))
    parity = json.loads((local / PARITY_FILE).read_text()) if (local / PARITY_FILE).is_file() else {}
    status = parity.get(backend, {}).get("status")
    if status != "passed":
        raise LmforgeError(f"{model_uri} (version {version.version}) has no {backend} export that passed its parity "
                           f"check ({status or 'none'}); run `lmforge export {version.version}` or use --backend eager.")
    return local


def predict_exported(folder: Path, backend: str, texts: list[str]) -> list[tuple[str, float]]:
    """(label, probability) per text from an exported model."""
    from tasks.backends import TextScorer, label_texts

    return label_texts(folder, TextScorer(folder, backend), texts)


def predict_texts(params: Params, model_uri: str, texts: list[str], backend: str = "eager") -> list[tuple[str, float | None]]:
    """(label, score) per text; for seq2seq (output text, None). Non-eager backends run the version's exports."""
    if backend != "eager":
        if params.task == "seq2seq":
            raise LmforgeError(f"--backend {backend}: seq2seq models run eager only so far; use --backend eager.")
        return predict_exported(fetch_export(params, model_uri, backend), backend, texts)
    model = load_registered(params, model_uri)
    if params.task == "seq2seq":
        return [(output, None) for output in model.predict(texts)]
    return [(row["label"], float(row["score"])) for row in model(texts, truncation=True)]

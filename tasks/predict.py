"""predict: load a registered model by URI and label texts (used by `lmforge predict`)."""

from __future__ import annotations

from pathlib import Path

from tasks.core.config import Params


def map_input_columns(params: Params) -> dict[str, str]:
    """The data.* keys a model reads (its kind's inputs) with the column each names."""
    from tasks.kinds import get_kind

    return {key: getattr(params.data, key) for key in get_kind(params.task).INPUT_KEYS}


def input_documents(params: Params) -> str:
    """How a .txt file of inputs is cut: one input per line, as a user lists texts to score, unless the params file
    itself sets data.documents to paragraphs or whole files (a language model's inputs read as its corpus was)."""
    chosen = params.data.documents if "documents" in params.data.model_fields_set else "line"
    return chosen if chosen in ("blank_line", "file") else "line"


def describe_reading(path: Path, params: Params) -> str:
    """How a file of inputs was read, in words, so that a file read as one row cannot pass unnoticed."""
    from tasks.data.sources import detect_format

    if detect_format(path, "auto") != "text":
        return f"rows of {path.name}"
    how = {"line": "one per line", "blank_line": "one per paragraph", "file": "the whole file as one"}[
        input_documents(params)]
    return f"{how} of {path.name}"


def load_texts(path: Path, params: Params, columns: dict[str, str] | None = None) -> list[str]:
    """The inputs in a file: the kind's input columns (or `columns`), one column, or several joined by " || " (a qa
    model reads "QUESTION || CONTEXT"); a .txt file's inputs under the first column's name (input_documents)."""
    from tasks.registry.pyfunc import INPUT_SEPARATOR
    from tasks.data.sources import pick_columns, read_table

    columns = columns or map_input_columns(params)
    frame = read_table(path, documents=input_documents(params), text_column=next(iter(columns.values())))
    frame = pick_columns(frame, columns, str(path))
    return frame.fillna("").astype(str).agg(INPUT_SEPARATOR.join, axis=1).tolist()


def predict_exported(folder: Path, backend: str, texts: list[str]) -> list[tuple[str, float]]:
    """(label, probability) per text from a folder of exported (or eager) model files."""
    from tasks.registry.backends import TextScorer, label_texts

    return label_texts(TextScorer(folder, backend), texts)


def predict_texts(params: Params, model_uri: str, texts: list[str], backend: str = "eager") -> list[tuple[str, float | None]]:
    """(label or output text, score or None) per text, as the task kind reads its model's outputs. Non-eager backends
    run the version's exports."""
    from tasks.kinds import get_kind
    from tasks.registry.registered import load_registered

    model = load_registered(params, model_uri)
    outputs = model.predict(texts, params={"backend": backend}) if backend != "eager" else model.predict(texts)
    return get_kind(params.task).format_outputs(outputs)


def log_predictions(params: Params, version, model_uri: str, backend: str, texts: list[str],
                    outputs: list[tuple[str, float | None]], seconds: float, source: str = "predict") -> list[str]:
    """Append the answers of registered `version` (asked for as `model_uri`, whose alias the rows keep) to the
    inference log (monitor.log), on disk before the command returns; returns each answer's request id (what
    `lmforge feedback` joins labels on), none when logging is off."""
    if not params.monitor.log:
        return []
    from tasks.data.inference_log import make_rows, new_request_ids, open_log, version_context

    request_ids = new_request_ids(len(texts))
    context = version_context(source, version, model_uri, backend)
    answers = [{"output": output, "score": score} for output, score in outputs]
    log = open_log(params.paths.inference_log, params.monitor)
    log.record(make_rows(texts, answers, request_ids, context, 1000 * seconds / max(len(texts), 1),
                         params.monitor.log_inputs))
    log.close_and_warn()
    return request_ids

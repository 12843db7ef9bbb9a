"""evaluate for classification: labels for the test split in length-sorted batches, accuracy/precision/recall/F1
(scikit-learn) overall and per class, and the confusion matrix as JSON and a plot."""

from __future__ import annotations

import json
from pathlib import Path

from tasks.core.config import Params

EVAL_FILE = "eval.json"


def predict_split(model_dir: str | Path, tokenized_dir: str | Path, split: str, batch_size: int,
                  show_progress: bool = True) -> tuple[list[int], list[int], list[str]]:
    """(true ids, predicted ids, labels) for one tokenized split, in dynamically padded batches."""
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding

    from tasks.training.loading import load_trained, load_trained_tokenizer

    from tasks.training.checkpoints import read_model_meta
    from tasks.kinds.classification.train import read_split

    labels = read_model_meta(model_dir)["labels"]
    rows = read_split(tokenized_dir, split, {label: i for i, label in enumerate(labels)})
    model = load_trained(AutoModelForSequenceClassification, model_dir)
    collate = DataCollatorWithPadding(load_trained_tokenizer(model_dir))
    # Batches of similar length waste little on padding; predictions go back to the rows' order.
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["input_ids"]))
    predicted: dict[int, int] = {}
    with torch.inference_mode():
        for start in tqdm(range(0, len(order), batch_size), desc=f"evaluate {split}", disable=not show_progress):
            chunk = order[start:start + batch_size]
            batch = collate([rows[i] for i in chunk])
            batch.pop("labels")
            predicted |= dict(zip(chunk, model(**batch).logits.argmax(-1).tolist()))
    return [row["labels"] for row in rows], [predicted[i] for i in range(len(rows))], labels


def plot_confusion(matrix, labels: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from sklearn.metrics import ConfusionMatrixDisplay

    display = ConfusionMatrixDisplay(matrix, display_labels=labels)
    display.plot(cmap="Blues", colorbar=False, xticks_rotation=45 if len(labels) > 4 else "horizontal")
    display.ax_.set_title("Test split: rows by true and predicted label")
    display.figure_.tight_layout()
    display.figure_.savefig(path, dpi=110)
    matplotlib.pyplot.close(display.figure_)


def evaluate_texts(params: Params, model_dir: str | Path, show_progress: bool = True) -> tuple[dict, list[str]]:
    """Metrics on the test split written to paths.metrics (eval.json, confusion matrix JSON and PNG); returns the
    metrics and those files."""
    from sklearn.metrics import confusion_matrix

    from tasks.kinds.classification.metrics import classification_metrics
    from tasks.registry.predictions import write_predictions

    y_true, y_pred, labels = predict_split(model_dir, params.paths.tokenized, "test", params.evaluate.batch_size, show_progress)
    metrics = classification_metrics(y_true, y_pred, labels) | {"eval_rows": float(len(y_true))}
    out = Path(params.paths.metrics)
    out.mkdir(parents=True, exist_ok=True)
    matrix = confusion_matrix(y_true, y_pred, labels=list(range(len(labels))))
    (out / EVAL_FILE).write_text(json.dumps(metrics, indent=1, sort_keys=True))
    (out / "confusion_matrix.json").write_text(json.dumps({"labels": labels, "matrix": matrix.tolist()}, indent=1))
    plot_confusion(matrix, labels, out / "confusion_matrix.png")
    write_predictions(params, model_dir, [labels[i] for i in y_pred])
    return metrics, [str(out / name) for name in (EVAL_FILE, "confusion_matrix.json", "confusion_matrix.png")]

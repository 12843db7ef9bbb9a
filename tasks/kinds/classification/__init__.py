"""Classification: rows of text and label; a sequence classifier; accuracy, precision, recall and F1 (scikit-learn);
exported to ONNX, int8 ONNX and a torch.export program. The interface is tasks/kinds/base.py."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tasks.core.defaults import PRETRAINED_PACKAGE
from tasks.core.config import TASK_METRICS, DataParams, Params
from tasks.core.records import TokenizedData

INPUT_KEYS = ("text_column",)
KEY_METRIC = "accuracy"
# Rows are carved into splits one by one unless data.group_column groups them.
GROUP_COLUMN = None
# The test split's column that evaluate compares the spread of outputs with (None: no single reference).
REFERENCE_COLUMN = "label"
# What `lmforge init` writes for this kind: (data key, default column, what it holds), and the model lines.
INIT_COLUMNS = [("text_column", "text", "the text to classify"), ("label_column", "label", "its class")]
INIT_MODEL = f"  pretrained: null              # null: a small BERT from scratch; or {PRETRAINED_PACKAGE} (fine-tunes MiniLM)"
READS_DOCUMENTS = False  # whether a .txt source is read as documents (data.documents)
OUTPUT_IS_LABEL = True  # the monitor tests a label's share (chi-square), else the output's length
AUTO_CLASS = "AutoModelForSequenceClassification"  # what a pretrained checkpoint loads as


def source_columns(data: DataParams) -> dict[str, str]:
    return {"text_column": data.text_column, "label_column": data.label_column}


def canonical_rows(frame: pd.DataFrame, data: DataParams) -> pd.DataFrame:
    return frame


def make_builtin(source: str, rows: int, seed: int) -> pd.DataFrame:
    from tasks.kinds.classification.builtin import generate_reviews

    return generate_reviews(rows, seed)


def validation_checks(params: Params):
    from tasks.data.checks import text_batches, text_checks

    return text_checks(params), text_batches


def tokenize_splits(splits: dict[str, pd.DataFrame], params: Params, pretrained: str | None, out: Path):
    from tasks.kinds.classification.tokenize import tokenize_texts

    return tokenize_texts(splits, params, pretrained, out)


def build_trainer(params: Params, tokens: TokenizedData, tokenizer, labels: list[str] | None, checkpoints: Path,
                  callbacks: list, show_progress: bool):
    from tasks.kinds.classification.train import classification_trainer

    return classification_trainer(params, tokens, tokenizer, labels, checkpoints, callbacks, show_progress)


def save_model(trainer, out: Path) -> None:
    trainer.save_model(str(out))


def selection_metric(params: Params) -> tuple[str, bool]:
    return ("val_loss", False) if params.train.select_by == "loss" else ("val_f1_macro", True)


def evaluate_model(params: Params, model_dir: str | Path, show_progress: bool):
    from tasks.kinds.classification.evaluate import evaluate_texts

    return evaluate_texts(params, model_dir, show_progress)


def log_model(model_dir: str | Path, requirements: list[str]):
    from tasks.kinds.classification.model import log_classifier

    return log_classifier(model_dir, requirements)


def predict_ids(params: Params, model_uri: str, texts: list[str], labels: list[str]):
    """Label ids (in `labels`) a registered classifier gives the texts; -1 for a label the data does not have."""
    import numpy as np

    from tasks.registry.registered import load_registered

    index = {label: i for i, label in enumerate(labels)}
    rows = pd.DataFrame(load_registered(params, model_uri).predict(texts))
    return np.array([index.get(str(label), -1) for label in rows["label"]])


def score_models(params: Params, test: pd.DataFrame, uris: dict[str, str], reused: dict[str, list[str] | None]):
    """Metrics of each model on the test rows, the significance check (bootstrap or McNemar) of the challenger, and
    each model's labels."""
    import numpy as np

    from tasks.training.checkpoints import read_model_meta
    from tasks.registry.promotion_rule import classification_significance, score_rows

    rule = params.promote
    labels = list(params.data.labels or read_model_meta(params.paths.model)["labels"])
    y_true = np.array([labels.index(label) if label in labels else -1 for label in test["label"]])
    index = {label: i for i, label in enumerate(labels)}
    predicted = {who: np.array([index.get(label, -1) for label in reused[who]]) if reused.get(who) is not None
                 else predict_ids(params, uri, test["text"].astype(str).tolist(), labels) for who, uri in uris.items()}
    names = dict.fromkeys([*TASK_METRICS["classification"], rule.primary_metric, *rule.guarded, *rule.floors])
    metrics = {who: {name: round(float(score_rows(name, y_true, rows, labels)), 6) for name in names}
               for who, rows in predicted.items()}
    outputs = {who: [labels[i] if i >= 0 else "" for i in rows] for who, rows in predicted.items()}
    return metrics, lambda seed: classification_significance(rule, y_true, predicted["champion"],
                                                             predicted["challenger"], labels, seed), outputs


def baseline_metrics(params: Params, train: pd.DataFrame, test: pd.DataFrame) -> tuple[str, dict[str, float]]:
    """The majority label of the training split, given to every test row."""
    from tasks.kinds.classification.baseline import majority_baseline

    return majority_baseline(params, train, test)


def row_scorers(params: Params, model_dir: str | Path, test: pd.DataFrame, predicted: list[str]) -> dict:
    """Each metric of TASK_METRICS (and the primary one) as a function of row positions: resampled rows for evaluate's
    intervals, a slice's rows for promote's slice gate."""
    import numpy as np

    from tasks.registry.promotion_rule import score_rows
    from tasks.training.checkpoints import read_model_meta

    labels = list(params.data.labels or read_model_meta(model_dir)["labels"])
    index = {label: i for i, label in enumerate(labels)}
    y_true = np.array([index.get(str(label), -1) for label in test["label"]])
    y_pred = np.array([index.get(label, -1) for label in predicted])
    names = dict.fromkeys([*TASK_METRICS["classification"], params.promote.primary_metric])
    # One slice of rows (1-D picks) is scored over the classes it holds, so a class slice's macro F1 is that class's
    # F1, not a third of it; resamples (2-D) over every label, as evaluate scores the split.
    held = lambda picks: sorted(set(y_true[picks]) - {-1}) if np.ndim(picks) == 1 else None
    return {name: (lambda picks, name=name: score_rows(name, y_true[picks], y_pred[picks], labels, held(picks)))
            for name in names}


def export_model(params: Params, model_dir: str | Path, out: Path, test: pd.DataFrame, describe_error) -> dict:
    from tasks.kinds.classification.export import export_classifier

    return export_classifier(params, model_dir, out, test, describe_error)


def format_outputs(outputs) -> list[tuple[str, float | None]]:
    rows = pd.DataFrame(outputs)
    return [(str(label), float(score)) for label, score in zip(rows["label"], rows["score"])]


def serve_rows(outputs) -> list[dict]:
    return list(outputs)  # the pyfunc's rows already are {"label", "score"}


def reference_inputs(texts: list[str]) -> list[str]:
    return texts


def logged_inputs(texts: list[str]) -> list[str]:
    return texts

"""Extractive question answering: rows of context, question and answer text (with the answer's start offset, found
when absent); a BERT-style encoder with a span head over overlapping windows of the context; SQuAD v1.1 exact match
and token F1; exported to ONNX, int8 ONNX and a torch.export program of the span model, whose logits go through the
same window and span post-processing as eager PyTorch's. The interface is tasks/kinds/base.py."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tasks.core.defaults import PRETRAINED_PACKAGE
from tasks.core.config import DataParams, Params
from tasks.core.records import TokenizedData

# `lmforge predict --file` joins each row's question and context as "QUESTION || CONTEXT", the pyfunc's input.
INPUT_KEYS = ("question_column", "context_column")
KEY_METRIC = "f1"
# Rows on one context stay in one split when splits are carved (questions on a paragraph share it).
GROUP_COLUMN = "context"
# The test split's column that evaluate compares the spread of outputs with (None: no single reference).
REFERENCE_COLUMN = "answer"
# What `lmforge init` writes for this kind: (data key, default column, what it holds), and the model lines.
INIT_COLUMNS = [("context_column", "context", "the passage"), ("question_column", "question", "the question"),
                ("answer_column", "answer", "the answer, a span of the passage"),
                ("answer_start_column", None, "the answer's character offset; null: its first occurrence")]
INIT_MODEL = f"  pretrained: {PRETRAINED_PACKAGE}   # MiniLM with a span head; null: a small BERT from scratch"
READS_DOCUMENTS = False  # whether a .txt source is read as documents (data.documents)
OUTPUT_IS_LABEL = False  # the monitor tests a label's share (chi-square), else the output's length
AUTO_CLASS = "AutoModelForQuestionAnswering"  # what a pretrained checkpoint loads as


def source_columns(data: DataParams) -> dict[str, str]:
    columns = {"context_column": data.context_column, "question_column": data.question_column,
               "answer_column": data.answer_column}
    if data.answer_start_column:
        columns["answer_start_column"] = data.answer_start_column
    return columns


def canonical_rows(frame: pd.DataFrame, data: DataParams) -> pd.DataFrame:
    return frame


def make_builtin(source: str, rows: int, seed: int) -> pd.DataFrame:
    from tasks.kinds.qa.builtin import generate_facts

    return {"builtin:facts": generate_facts}[source](rows, seed)


def validation_checks(params: Params):
    from tasks.kinds.qa.checks import qa_batches, qa_checks

    return qa_checks(params), qa_batches


def tokenize_splits(splits: dict[str, pd.DataFrame], params: Params, pretrained: str | None, out: Path):
    from tasks.kinds.qa.tokenize import tokenize_qa

    return None, tokenize_qa(splits, params, pretrained, out)


def build_trainer(params: Params, tokens: TokenizedData, tokenizer, labels: list[str] | None, checkpoints: Path,
                  callbacks: list, show_progress: bool):
    from tasks.kinds.qa.train import qa_trainer

    return qa_trainer(params, tokens, tokenizer, checkpoints, callbacks, show_progress)


def save_model(trainer, out: Path) -> None:
    trainer.save_model(str(out))


def selection_metric(params: Params) -> tuple[str, bool]:
    # Span metrics need post-processing across windows, which Trainer's evaluation cannot do: validation loss.
    return "val_loss", False


def evaluate_model(params: Params, model_dir: str | Path, show_progress: bool):
    from tasks.kinds.qa.evaluate import evaluate_answers

    return evaluate_answers(params, model_dir, show_progress)


def log_model(model_dir: str | Path, requirements: list[str]):
    from tasks.kinds.qa.model import log_answerer

    return log_answerer(model_dir, requirements)


def score_models(params: Params, test: pd.DataFrame, uris: dict[str, str], reused: dict[str, list[str] | None]):
    """Exact match and F1 of each model's answers on the test rows; significance by a paired bootstrap of questions
    on the primary metric (or McNemar on exact matches)."""
    from tasks.kinds.qa.evaluate import score_answer_models

    return score_answer_models(params, test, uris, reused)


def baseline_metrics(params: Params, train: pd.DataFrame, test: pd.DataFrame) -> tuple[str, dict[str, float]]:
    """The context's first sentence as the answer."""
    from tasks.kinds.qa.baseline import first_sentence_baseline

    return first_sentence_baseline(params, train, test)


def row_scorers(params: Params, model_dir: str | Path, test: pd.DataFrame, predicted: list[str]) -> dict:
    """Exact match and F1 as means over resampled questions, for intervals."""
    from tasks.kinds.qa.metrics import row_scores

    per_row = row_scores(predicted, test["answer"].astype(str).tolist())
    return {name: (lambda picks, name=name: per_row[name][picks].mean(-1)) for name in per_row}


def export_model(params: Params, model_dir: str | Path, out: Path, test: pd.DataFrame, describe_error) -> dict:
    from tasks.kinds.qa.export import export_answerer

    return export_answerer(params, model_dir, out, test, describe_error)


def format_outputs(outputs) -> list[tuple[str, float | None]]:
    return [(str(row["answer"]), float(row["score"])) for row in outputs]


def serve_rows(outputs) -> list[dict]:
    return [{"answer": str(row["answer"]), "score": float(row["score"])} for row in outputs]


def reference_inputs(texts: list[str]) -> list[str]:
    return texts


def logged_inputs(texts: list[str]) -> list[str]:
    return texts

"""Sequence to sequence: rows of source and target text; an encoder-decoder; BLEU and chrF (sacreBLEU), METEOR and
ROUGE; beam search exported to ONNX Runtime (fp32, int8). Translation and summarization are both this kind.
The interface is tasks/kinds/base.py."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tasks.core.defaults import PRETRAINED_PACKAGE
from tasks.core.config import TASK_METRICS, DataParams, Params
from tasks.core.records import TokenizedData

INPUT_KEYS = ("source_column",)
KEY_METRIC = "chrf"
# Rows are carved into splits one by one unless data.group_column groups them.
GROUP_COLUMN = None
# The test split's column that evaluate compares the spread of outputs with (None: no single reference).
REFERENCE_COLUMN = "target"
# What `lmforge init` writes for this kind: (data key, default column, what it holds), and the model lines.
INIT_COLUMNS = [("source_column", "source", "the input text"), ("target_column", "target", "the text to produce")]
INIT_MODEL = ("  pretrained: null              # a Hub id (ORG/NAME) or folder of an encoder-decoder; null: a small one\n"
              f"  # pretrained_encoder: {PRETRAINED_PACKAGE}   # or warm-start both sides from a BERT-style encoder")
READS_DOCUMENTS = False  # whether a .txt source is read as documents (data.documents)
OUTPUT_IS_LABEL = False  # the monitor tests a label's share (chi-square), else the output's length
AUTO_CLASS = "AutoModelForSeq2SeqLM"  # what a pretrained checkpoint loads as


def source_columns(data: DataParams) -> dict[str, str]:
    return {"source_column": data.source_column, "target_column": data.target_column}


def canonical_rows(frame: pd.DataFrame, data: DataParams) -> pd.DataFrame:
    return frame


def make_builtin(source: str, rows: int, seed: int) -> pd.DataFrame:
    from tasks.kinds.seq2seq.builtin import generate_numbers
    from tasks.kinds.seq2seq.builtin_reports import generate_reports

    return {"builtin:numbers": generate_numbers, "builtin:reports": generate_reports}[source](rows, seed)


def validation_checks(params: Params):
    from tasks.kinds.seq2seq.checks import pair_batches, pair_checks

    return pair_checks(params), pair_batches


def tokenize_splits(splits: dict[str, pd.DataFrame], params: Params, pretrained: str | None, out: Path):
    from tasks.kinds.seq2seq.tokenize import tokenize_pairs

    tokenize_pairs(splits, params, pretrained, out)
    return None, params.tokenize.algorithm


def build_trainer(params: Params, tokens: TokenizedData, tokenizer, labels: list[str] | None, checkpoints: Path,
                  callbacks: list, show_progress: bool):
    from tasks.kinds.seq2seq.train import seq2seq_trainer

    return seq2seq_trainer(params, tokens, tokenizer, checkpoints, callbacks, show_progress)


def save_model(trainer, out: Path) -> None:
    trainer.save_model(str(out))


def selection_metric(params: Params) -> tuple[str, bool]:
    # auto is validation loss for seq2seq: BLEU needs generation at every evaluation (train.select_by: bleu).
    return ("val_bleu", True) if params.train.select_by == "bleu" else ("val_loss", False)


def evaluate_model(params: Params, model_dir: str | Path, show_progress: bool):
    from tasks.kinds.seq2seq.evaluate import evaluate_pairs

    return evaluate_pairs(params, model_dir, show_progress)


def log_model(model_dir: str | Path, requirements: list[str]):
    from tasks.kinds.seq2seq.model import log_translator

    return log_translator(model_dir, requirements)


def score_models(params: Params, test: pd.DataFrame, uris: dict[str, str], reused: dict[str, list[str] | None]):
    """BLEU, chrF and ROUGE of each model's outputs on the test pairs; significance by a paired bootstrap of
    sentences on the primary metric."""
    from tasks.registry.promotion_rule import check_significance
    from tasks.registry.registered import load_registered
    from tasks.kinds.seq2seq.metrics import corpus_scores, score_from_stats, sentence_stats

    sources, refs = test["source"].astype(str).tolist(), test["target"].astype(str).tolist()
    hyps = {who: reused[who] if reused.get(who) is not None else load_registered(params, uri).predict(sources)
            for who, uri in uris.items()}
    scores = {who: corpus_scores(out, refs) for who, out in hyps.items()}  # each corpus scored once
    metrics = {who: {name: found[name] for name in TASK_METRICS["seq2seq"]} for who, found in scores.items()}

    def significance(seed: int) -> dict:
        name = params.promote.primary_metric
        stats = {who: sentence_stats(name, out, refs) for who, out in hyps.items()}
        difference = lambda rows: score_from_stats(name, stats["challenger"][rows]) - \
            score_from_stats(name, stats["champion"][rows])
        return check_significance(params.promote, len(refs), difference, seed)

    return metrics, significance, hyps


def baseline_metrics(params: Params, train: pd.DataFrame, test: pd.DataFrame) -> tuple[str, dict[str, float]]:
    """The better of copying the source and its first sentence (translation and summarization differ here)."""
    from tasks.kinds.seq2seq.baseline import copy_or_lead_baseline

    return copy_or_lead_baseline(params, train, test)


def row_scorers(params: Params, model_dir: str | Path, test: pd.DataFrame, predicted: list[str]) -> dict:
    """BLEU, chrF and ROUGE as functions of resampled sentences (summed sufficient statistics), for intervals."""
    from tasks.kinds.seq2seq.metrics import score_from_stats, sentence_stats

    from functools import cache

    refs = test["target"].astype(str).tolist()
    stats = cache(lambda name: sentence_stats(name, predicted, refs))  # on first use: the slice gate needs one metric
    return {name: (lambda picks, name=name: score_from_stats(name, stats(name)[picks]))
            for name in TASK_METRICS["seq2seq"]}


def export_model(params: Params, model_dir: str | Path, out: Path, test: pd.DataFrame, describe_error) -> dict:
    from tasks.kinds.seq2seq.export import export_translator

    sources, references = test["source"].astype(str).tolist(), test["target"].astype(str).tolist()
    return export_translator(params, model_dir, out, sources, references, describe_error)


def format_outputs(outputs) -> list[tuple[str, float | None]]:
    return [(str(output), None) for output in outputs]


def serve_rows(outputs) -> list[dict]:
    return [{"output": output} for output in outputs]


def reference_inputs(texts: list[str]) -> list[str]:
    return texts


def logged_inputs(texts: list[str]) -> list[str]:
    return texts

"""The causal_lm kind: GPT-style language modelling. A decoder-only model (a local checkpoint, or a small GPT-2 from
scratch), texts packed into blocks, perplexity on validation and test against a unigram baseline, greedy and sampled
continuations; optionally LoRA fine-tuning with PEFT, the adapter merged or kept beside the base weights; the
decoder exported to ONNX (fp32, int8) with its keys and values, and served from it.

Implementation, in tasks/kinds/causal_lm/: tokenize.py (tokenizer, packing), train.py (the Trainer; the model, LoRA
and saving are tasks/decoders/build.py's), metrics.py (perplexity, unigram, the bootstrap), evaluate.py (generation in
left-padded batches: tasks/decoders/generate.py),
export.py (the decoder step, parity), onnx.py (greedy generation on ONNX Runtime), model.py (the pyfunc), checks.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from tasks.core.config import DataParams, Params
from tasks.core.records import TokenizedData

INPUT_KEYS = ("text_column",)  # `lmforge predict --file` reads prompts from the text column
KEY_METRIC = "loss"
# Rows are carved into splits one by one unless data.group_column groups them.
GROUP_COLUMN = None
# The test split's column that evaluate compares the spread of outputs with (None: no single reference).
REFERENCE_COLUMN = None
# What `lmforge init` writes for this kind: (data key, default column, what it holds), and the model lines.
INIT_COLUMNS = [("text_column", "text", "the text to model (a .txt source has it already)")]
INIT_MODEL = "  pretrained: null              # a Hub id (ORG/NAME) or folder of a decoder; null: a small GPT-2"
READS_DOCUMENTS = True  # whether a .txt source is read as documents (data.documents)
OUTPUT_IS_LABEL = False  # the monitor tests a label's share (chi-square), else the output's length
AUTO_CLASS = "AutoModelForCausalLM"  # what a pretrained checkpoint loads as


def source_columns(data: DataParams) -> dict[str, str]:
    return {"text_column": data.text_column}


def canonical_rows(frame: pd.DataFrame, data: DataParams) -> pd.DataFrame:
    return frame


def make_builtin(source: str, rows: int, seed: int) -> pd.DataFrame:
    from tasks.kinds.causal_lm.builtin import generate_stories

    if source != "builtin:stories":
        raise ValueError(f"{source} is not a causal_lm dataset")  # ingest asks only for this kind's builtins
    return generate_stories(rows, seed)


def validation_checks(params: Params) -> tuple[list, Callable[[pd.DataFrame, Params], dict[str, pd.DataFrame]]]:
    from tasks.kinds.causal_lm.checks import lm_batches, lm_checks

    return lm_checks(params), lm_batches


def tokenize_splits(splits: dict[str, pd.DataFrame], params: Params, pretrained: str | None,
                    out: Path) -> tuple[list[str] | None, str]:
    from tasks.kinds.causal_lm.tokenize import tokenize_texts

    return None, tokenize_texts(splits, params, pretrained, out)


def build_trainer(params: Params, tokens: TokenizedData, tokenizer, labels: list[str] | None, checkpoints: Path,
                  callbacks: list, show_progress: bool):
    from tasks.kinds.causal_lm.train import lm_trainer

    return lm_trainer(params, tokens, tokenizer, checkpoints, callbacks, show_progress)


def save_model(trainer, out: Path) -> None:
    from tasks.decoders.build import save_decoder

    save_decoder(trainer, Path(out))


def selection_metric(params: Params) -> tuple[str, bool]:
    return "val_loss", False


def evaluate_model(params: Params, model_dir: str | Path, show_progress: bool) -> tuple[dict[str, float], list[str]]:
    from tasks.kinds.causal_lm.evaluate import evaluate_causal_lm

    return evaluate_causal_lm(params, model_dir, show_progress)


def log_model(model_dir: str | Path, requirements: list[str]) -> Any:
    from tasks.kinds.causal_lm.model import log_language_model

    return log_language_model(model_dir, requirements)


def score_models(params: Params, test: pd.DataFrame, uris: dict[str, str],
                 reused: dict[str, list[str] | None]) -> tuple[dict[str, dict[str, float]], Callable[[int], dict], dict]:
    """Perplexity, loss and word perplexity of each registered model on the test texts, packed into blocks as evaluate
    scores them (the same numbers for the challenger). `reused` is not used: the saved predictions are continuations,
    and perplexity needs the model's probabilities. Significance: a paired bootstrap over texts of champion minus
    challenger (lower is better)."""
    from tasks.kinds.causal_lm.metrics import char_counts, lm_significance, text_perplexity, word_counts
    from tasks.registry.registered import load_registered

    texts = test["text"].astype(str).tolist()
    # (nll, predicted tokens) per text, as numpy arrays
    scores = {who: load_registered(params, uri).unwrap_python_model().score_texts(texts) for who, uri in uris.items()}
    words, chars = word_counts(texts), char_counts(texts)
    metrics = {who: text_perplexity(*found, words, chars) for who, found in scores.items()}
    return metrics, lambda seed: lm_significance(params.promote, scores, words, seed, chars), {}


def baseline_metrics(params: Params, train: pd.DataFrame, test: pd.DataFrame) -> tuple[str, dict[str, float]]:
    """A unigram model of the training tokens, on the test tokens the model predicts."""
    from tasks.kinds.causal_lm.baseline import unigram_baseline

    return unigram_baseline(params, train, test)


def row_scorers(params: Params, model_dir: str | Path, test: pd.DataFrame, predicted: list[str]) -> dict:
    """None: perplexity needs the model's probabilities, and the saved predictions are continuations."""
    return {}


def export_model(params: Params, model_dir: str | Path, out: Path, test: pd.DataFrame,
                 describe_error: Callable[[Exception], str]) -> dict:
    """The decoder step as ONNX (fp32, int8) with its keys and values in and out, each checked on the test prompts'
    greedy continuations against eager PyTorch (tasks/kinds/causal_lm/export.py)."""
    from tasks.kinds.causal_lm.export import export_decoder

    return export_decoder(params, model_dir, out, test["text"].astype(str).tolist(), describe_error)


def format_outputs(outputs) -> list[tuple[str, float | None]]:
    return [(str(text), None) for text in outputs]


def serve_rows(outputs) -> list[dict]:
    return [{"output": str(text)} for text in outputs]


def reference_inputs(texts: list[str]) -> list[str]:
    """Prompts, as evaluate makes them: a window of prompts compared with whole test texts (their lengths, their
    embeddings, the model's loss on its continuations of them) would report drift on the model's own traffic."""
    from tasks.kinds.causal_lm.tokenize import prompt_of

    return [prompt_of(text) for text in texts]


def logged_inputs(texts: list[str]) -> list[str]:
    return texts

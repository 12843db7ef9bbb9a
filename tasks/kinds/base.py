"""What a task kind provides: the steps are generic and ask the kind for everything that differs between kinds.

A kind is a package tasks/kinds/<kind>/ (registered in tasks/kinds/__init__.py) whose __init__.py defines the names
below; its other modules are named by role (builtin, checks, tokenize, train, evaluate, metrics, model, export).
Heavy imports (torch, transformers, its role modules) happen inside its functions, so asking for a kind costs nothing.
A kind never imports a step module (tasks/ingest.py ... tasks/export.py) nor another kind, and no step imports a
kind's package: steps reach it only through `tasks.kinds.get_kind(params.task)`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from tasks.core.config import DataParams, Params
from tasks.core.records import TokenizedData


class TaskKind(Protocol):
    # data.* keys that name the source's columns, mapped by ingest to canonical names (key minus "_column").
    def source_columns(self, data: DataParams) -> dict[str, str]: ...
    # The data.* keys of the columns `lmforge predict --file` reads; several are joined by " || " into one input.
    INPUT_KEYS: tuple[str, ...]
    # The metric `lmforge models` shows beside the primary one.
    KEY_METRIC: str
    # The canonical column whose equal values stay in one split when splits are carved (and which leakage compares
    # across train and test), when data.group_column names none; None: rows are carved one by one.
    GROUP_COLUMN: str | None
    # The test split's canonical column of expected outputs (label, target, answer) that evaluate compares the
    # spread of the model's outputs with, to tell a collapsed model from skewed data; None when there is none.
    REFERENCE_COLUMN: str | None
    # What `lmforge init` writes: (data key, default column, what it holds) per column key, and the model lines.
    INIT_COLUMNS: list[tuple[str, str | None, str]]
    INIT_MODEL: str
    READS_DOCUMENTS: bool  # a .txt source is read as documents (data.documents), not as a table
    OUTPUT_IS_LABEL: bool  # its outputs are labels (the monitor compares their shares), else texts (their lengths)
    # The transformers Auto class a pretrained checkpoint is loaded as: which architecture families the kind can use.
    AUTO_CLASS: str

    def canonical_rows(self, frame: pd.DataFrame, data: DataParams) -> pd.DataFrame:
        """The rows with their source columns renamed (source_columns) as the kind keeps them: most kinds keep them
        as they are; chat makes one conversation per row of prompt and response columns."""

    def make_builtin(self, source: str, rows: int, seed: int) -> pd.DataFrame:
        """The generated dataset `builtin:NAME` of this kind (config.BUILTIN_TASKS lists which are whose)."""

    def validation_checks(self, params: Params) -> tuple[list, Callable[[pd.DataFrame, Params], dict[str, pd.DataFrame]]]:
        """The checks (tasks.data.checks.Check) and the function that builds the frames (batches) they look at."""

    def tokenize_splits(self, splits: dict[str, pd.DataFrame], params: Params, pretrained: str | None,
                        out: Path) -> tuple[list[str] | None, str]:
        """Write out/tokenizer (and any *_tokenizer folder) and one Parquet file of token ids per split; returns
        (labels or None, the tokenizer's name for the cache record)."""

    def build_trainer(self, params: Params, tokens: TokenizedData, tokenizer, labels: list[str] | None,
                      checkpoints: Path, callbacks: list, show_progress: bool):
        """A transformers Trainer over the tokenized train and validation splits."""

    def save_model(self, trainer, out: Path) -> None:
        """Write the trained model's weights and config into `out` (a LoRA kind merges or keeps its adapter here)."""

    def selection_metric(self, params: Params) -> tuple[str, bool]:
        """The validation score train selects its best epoch by, as logged (val_*), and whether higher is better."""

    def evaluate_model(self, params: Params, model_dir: str | Path, show_progress: bool) -> tuple[dict[str, float], list[str]]:
        """Score the test split: eval_* metrics (eval.json under paths.metrics), the artifact files written, and
        the model's outputs on it through tasks.registry.predictions.write_predictions."""

    def log_model(self, model_dir: str | Path, requirements: list[str]) -> Any:
        """Log the model as an MLflow pyfunc on the active run; returns MLflow's ModelInfo."""

    def score_models(self, params: Params, test: pd.DataFrame, uris: dict[str, str],
                     reused: dict[str, list[str] | None]) -> tuple[dict[str, dict[str, float]], Callable[[int], dict], dict]:
        """Promotion: metrics of each model (by role) on the test rows, the significance check for a seed, and each
        model's outputs on the rows (by role; empty when they cannot be scored row by row) for the slice gate."""

    def baseline_metrics(self, params: Params, train: pd.DataFrame, test: pd.DataFrame) -> tuple:
        """Promotion: the kind's trivial baseline (learnt from `train` where it learns anything) scored on the test
        rows with the metric code score_models uses: (what it is, as a reason names it; its metrics, the primary
        one among them[; its paired test against the challenger's outputs, `(outputs, seed) -> record`, for a
        baseline worth a significance test]). The gate refuses a model that does not beat it
        (promote.beat_baseline)."""

    def row_scorers(self, params: Params, model_dir: str | Path, test: pd.DataFrame,
                    predicted: list[str]) -> dict[str, Callable]:
        """Test metrics (TASK_METRICS names) as functions of resampled row indices (resamples, rows), from the saved
        test outputs: what evaluate's bootstrap intervals draw on; empty when the outputs cannot give them."""

    def export_model(self, params: Params, model_dir: str | Path, out: Path, test: pd.DataFrame,
                     describe_error: Callable[[Exception], str]) -> dict:
        """Write the exports into `out`; one record per backend (status passed, failed or not built, with reasons)."""

    def format_outputs(self, outputs) -> list[tuple[str, float | None]]:
        """The pyfunc's outputs as (text or label, score or None) per input, for `lmforge predict`."""

    def serve_rows(self, outputs) -> list[dict]:
        """The pyfunc's outputs as the JSON rows `lmforge serve` answers with."""

    def reference_inputs(self, texts: list[str]) -> list[str]:
        """The test split's inputs as requests to the model look (the monitor's reference): the texts themselves, or
        what a user sends for them (a language model is sent the first words of a text, as evaluate prompts it)."""

    def logged_inputs(self, texts: list[str]) -> list[str]:
        """The inference log's inputs in the form reference_inputs gives (what the monitor compares): the texts
        themselves, or one form of the several a request may take (chat: a prompt or a conversation, as JSON turns)."""

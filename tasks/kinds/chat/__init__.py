"""The chat kind: instruction tuning. A decoder (a checkpoint by Hub id or folder, or a small GPT-2 from scratch)
fine-tuned, fully or with LoRA, on conversations in OpenAI's format (or prompt and response columns), rendered with
the tokenizer's chat template (ChatML where it has none), the loss on the assistant's tokens only; judged by greedy
answers to held-out conversations (exact match, ROUGE-L, chrF) and the loss on their answers, against the untuned
base model first.

Implementation, in tasks/kinds/chat/: conversations.py (the format and what is wrong with one), template.py (the
template, the assistant's tokens), builtin.py, checks.py, tokenize.py, train.py (the Trainer; the model, LoRA and
saving are tasks/decoders/build.py's), metrics.py, evaluate.py, baseline.py, model.py (the pyfunc).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from tasks.core.config import DataParams, Params
from tasks.core.records import TokenizedData

INPUT_KEYS = ("messages_column",)  # `lmforge predict --file` reads conversations (or plain prompts) from it
KEY_METRIC = "chrf"
GROUP_COLUMN = None  # conversations are carved into splits one by one unless data.group_column groups them
REFERENCE_COLUMN = None  # the expected outputs are inside each conversation, not a column of their own
INIT_COLUMNS = [("messages_column", "messages", "each conversation: a list of {role, content} turns"),
                ("prompt_column", None, "or a prompt per row (then response_column: its answer)")]
INIT_MODEL = "  pretrained: null              # a Hub id (ORG/NAME) or folder of a decoder; null: a small GPT-2"
READS_DOCUMENTS = False  # a .txt source is one prompt per line, not documents
OUTPUT_IS_LABEL = False  # the monitor tests the answers' lengths
AUTO_CLASS = "AutoModelForCausalLM"


def source_columns(data: DataParams) -> dict[str, str]:
    if data.prompt_column:
        pair = {"prompt_column": data.prompt_column, "response_column": data.response_column}
        return pair | ({"system_column": data.system_column} if data.system_column else {})
    return {"messages_column": data.messages_column}


def canonical_rows(frame: pd.DataFrame, data: DataParams) -> pd.DataFrame:
    """One `messages` column of conversations as JSON text: built from prompt and response columns (the prompt
    written into data.prompt_template), or the source's conversations kept as role and content only (a value that
    is no conversation stays as it is, for validation to name)."""
    from tasks.kinds.chat.conversations import dump_conversation, load_conversation, pair_conversation

    if "prompt" in frame.columns:
        system = frame["system"] if "system" in frame.columns else pd.Series([None] * len(frame), index=frame.index)
        template = data.prompt_template or "{prompt}"
        text = lambda value: None if value is None or pd.isna(value) else str(value)  # a class id's name, a number
        # object dtype: pandas would read a list of texts and Nones as strings with NaN for the Nones.
        messages = pd.Series([None if text(prompt) is None or text(response) is None else
                              dump_conversation(pair_conversation(template.replace("{prompt}", text(prompt)),
                                                                  text(response), extra or None))
                              for prompt, response, extra in zip(frame["prompt"], frame["response"], system)],
                             index=frame.index, dtype=object)
        rest = [column for column in frame.columns if column not in ("prompt", "response", "system")]
        return frame[rest].assign(messages=messages)[["messages", *rest]]

    def tidy(value):
        try:
            return None if value is None else dump_conversation(load_conversation(value))
        except (ValueError, TypeError, KeyError, AttributeError):
            return value
    return frame.assign(messages=pd.Series([tidy(value) for value in frame["messages"]], index=frame.index,
                                           dtype=object))


def make_builtin(source: str, rows: int, seed: int) -> pd.DataFrame:
    from tasks.kinds.chat.builtin import generate_conversations

    if source != "builtin:instructions":
        raise ValueError(f"{source} is not a chat dataset")  # ingest asks only for this kind's builtins
    return generate_conversations(rows, seed)


def validation_checks(params: Params) -> tuple[list, Callable[[pd.DataFrame, Params], dict[str, pd.DataFrame]]]:
    from tasks.kinds.chat.checks import chat_batches, chat_checks

    return chat_checks(params), chat_batches


def tokenize_splits(splits: dict[str, pd.DataFrame], params: Params, pretrained: str | None,
                    out: Path) -> tuple[list[str] | None, str]:
    from tasks.kinds.chat.tokenize import tokenize_conversations

    return None, tokenize_conversations(splits, params, pretrained, out)


def build_trainer(params: Params, tokens: TokenizedData, tokenizer, labels: list[str] | None, checkpoints: Path,
                  callbacks: list, show_progress: bool):
    from tasks.kinds.chat.train import chat_trainer

    return chat_trainer(params, tokens, tokenizer, checkpoints, callbacks, show_progress)


def save_model(trainer, out: Path) -> None:
    from tasks.decoders.build import save_decoder

    save_decoder(trainer, Path(out))


def selection_metric(params: Params) -> tuple[str, bool]:
    return "val_loss", False


def evaluate_model(params: Params, model_dir: str | Path, show_progress: bool) -> tuple[dict[str, float], list[str]]:
    from tasks.kinds.chat.evaluate import evaluate_chat

    return evaluate_chat(params, model_dir, show_progress)


def log_model(model_dir: str | Path, requirements: list[str]) -> Any:
    from tasks.kinds.chat.model import log_chat_model

    return log_chat_model(model_dir, requirements)


def score_models(params: Params, test: pd.DataFrame, uris: dict[str, str], reused: dict[str, list[str] | None]):
    """Exact match, ROUGE-L and chrF of each model's answers to the test prompts; significance by a paired bootstrap
    of conversations on the primary metric (or McNemar on exact matches)."""
    from tasks.kinds.chat.evaluate import score_chat_models

    return score_chat_models(params, test, uris, reused)


def baseline_metrics(params: Params, train: pd.DataFrame, test: pd.DataFrame) -> tuple:
    """The untuned base model's answers (a fine-tune, with its paired test against the challenger's), or the most
    common training answer (a model from scratch)."""
    from tasks.kinds.chat.baseline import chat_baseline

    return chat_baseline(params, train, test)


def row_scorers(params: Params, model_dir: str | Path, test: pd.DataFrame, predicted: list[str]) -> dict:
    """The answer metrics as means over resampled conversations, for intervals."""
    from tasks.kinds.chat.conversations import last_answer
    from tasks.kinds.chat.metrics import row_scores

    per_row = row_scores(predicted, [last_answer(value) for value in test["messages"]])
    return {name: (lambda picks, name=name: per_row[name][picks].mean(-1)) for name in per_row}


def export_model(params: Params, model_dir: str | Path, out: Path, test: pd.DataFrame,
                 describe_error: Callable[[Exception], str]) -> dict:
    """Served by eager PyTorch: no export is built for chat models yet."""
    from tasks.core.backend_names import BACKENDS

    reason = "chat models are served by eager PyTorch (no export is built for them yet)"
    return {backend: {"status": "not built", "reason": reason} for backend in BACKENDS if backend != "eager"}


def format_outputs(outputs) -> list[tuple[str, float | None]]:
    return [(str(text), None) for text in outputs]


def serve_rows(outputs) -> list[dict]:
    return [{"output": str(text)} for text in outputs]


def reference_inputs(texts: list[str]) -> list[str]:
    """Requests as a client sends them: each test conversation without its last answer (JSON of its turns)."""
    from tasks.kinds.chat.conversations import as_request, prompt_turns

    return [as_request(prompt_turns(text)) for text in texts]


def logged_inputs(texts: list[str]) -> list[str]:
    """A prompt sent alone (/invocations, predict) as the conversation of one user turn it stands for."""
    from tasks.kinds.chat.conversations import as_request, read_turns

    return [as_request(read_turns(text)) for text in texts]

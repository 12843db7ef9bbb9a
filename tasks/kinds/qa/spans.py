"""Ways to run a span model: eager PyTorch, ONNX Runtime (fp32, or int8 with an fp32 fallback for questions near a
tie) and the torch.export program. Each runs a padded batch of windows (int64 arrays by input name) to (start logits,
end logits), so that evaluate, the export's parity check and serving share one post-processing
(tasks.kinds.qa.evaluate.score_windows, tasks.kinds.qa.metrics.rank_answers).

int8's fallback, when its export chose one (tasks/kinds/qa/quantize.py), is the classifier's file model.int8.json
read per question: {"fallback_gap": G} sends a question whose best answer scores less than G (log-probability)
above the best span of another text back to the fp32 file, all its windows, so that int8 rounding does not flip it."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tasks.registry.backends import FALLBACK_FILE, ONNX_FILE, backend_files, export_path, open_onnx_session

OUTPUTS = ["start_logits", "end_logits"]
SpanLogits = Callable[[dict[str, np.ndarray]], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Spans:
    run: SpanLogits
    fallback: tuple[Spans, float] | None = None  # int8's: the fp32 model and the gap below which it answers


def span_inputs(model, tokenizer) -> list[str]:
    """What the model is fed: ids and mask, and token_type_ids where the tokenizer gives them and the model takes
    them (a BERT-style qa model tells question from context by them; DistilBERT, RoBERTa-style and ModernBERT
    tokenizers give none): what training fed it, from the same windows (tasks.kinds.qa.tokenize.encode_windows)."""
    segments = ("token_type_ids" in tokenizer.model_input_names
                and "token_type_ids" in inspect.signature(model.forward).parameters)
    return ["input_ids", "attention_mask", *(["token_type_ids"] if segments else [])]


def load_eager(folder: str | Path) -> Spans:
    import torch
    from transformers import AutoModelForQuestionAnswering

    from tasks.training.loading import load_trained, load_trained_tokenizer

    model = load_trained(AutoModelForQuestionAnswering, folder)
    names = span_inputs(model, load_trained_tokenizer(folder))

    def run_eager(batch):
        with torch.inference_mode():
            output = model(**{name: torch.from_numpy(batch[name]) for name in names})
        return output.start_logits.float().numpy(), output.end_logits.float().numpy()
    return Spans(run_eager)


def load_program(path: Path) -> Spans:
    import torch

    program = torch.export.load(str(path))
    names = [spec.arg.name for spec in program.graph_signature.input_specs if spec.kind.name == "USER_INPUT"]
    module = program.module()

    def run_program(batch):
        with torch.inference_mode():
            start, end = module(**{name: torch.from_numpy(batch[name]) for name in names})
        return start.numpy(), end.numpy()
    return Spans(run_program)


def load_session(path: Path) -> Spans:
    session = open_onnx_session(path)
    names = [item.name for item in session.get_inputs()]  # the graph's own: an input the model never reads is gone
    return Spans(lambda batch: tuple(session.run(OUTPUTS, {name: batch[name] for name in names})))


def load_spans(folder: str | Path, backend: str) -> Spans:
    """The backend's span model, from a model folder (eager) or an export folder."""
    folder = Path(folder)
    if backend == "eager":
        return load_eager(folder)
    path = export_path(folder, backend)
    if backend == "torch-export":
        return load_program(path)
    spans = load_session(path)
    if FALLBACK_FILE not in backend_files(folder, backend):
        return spans
    import json

    gap = float(json.loads((folder / FALLBACK_FILE).read_text())["fallback_gap"])
    return Spans(spans.run, (load_session(folder / ONNX_FILE), gap))

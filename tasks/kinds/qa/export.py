"""export for question answering: the span model as a torch.export program, ONNX (dynamic batch and sequence axes) and
int8 ONNX, each from (input_ids, attention_mask, and token_type_ids where the tokenizer gives them) to (start_logits,
end_logits). Each is checked on the test questions as a user meets it: its answers, after the kind's own windows and
span post-processing, against eager PyTorch's (tasks/export.py says why these tools); int8's fallback for the
questions near a tie is chosen in tasks/kinds/qa/quantize.py."""

from __future__ import annotations

from pathlib import Path

from tasks.core.config import Params
from tasks.kinds.qa.quantize import MIN_AGREEMENT, answer_with, quantize_with_fallback
from tasks.kinds.qa.spans import OUTPUTS, span_inputs
from tasks.registry.backends import BACKEND_FILES, backend_files, position_limit


def trace_spans(model_dir: str | Path):
    """The span model as a torch.export program from its inputs (span_inputs) to (start, end) logits, batch and
    length dynamic; returns the program and its input names."""
    import torch
    from transformers import AutoModelForQuestionAnswering

    from tasks.training.loading import load_trained, load_trained_tokenizer

    model = load_trained(AutoModelForQuestionAnswering, model_dir)
    names = span_inputs(model, load_trained_tokenizer(model_dir))

    class Spans(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            segments = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            output = self.model(input_ids=input_ids, attention_mask=attention_mask, **segments)
            return output.start_logits, output.end_logits

    batch, length = torch.export.Dim("batch", max=4096), torch.export.Dim("sequence", min=2, max=position_limit(model_dir))
    example = {name: torch.ones(2, 8, dtype=torch.long) for name in names}
    example["attention_mask"][1, 6:] = 0  # a padded row, so that no mask path is traced as always full
    if "token_type_ids" in example:
        example["token_type_ids"][:, :4] = 0  # question then context: segment ids are traced as data, not a constant
    with torch.inference_mode():
        program = torch.export.export(Spans().eval(), (), example,
                                      dynamic_shapes={name: {0: batch, 1: length} for name in names})
    return program, names


def write_exports(model_dir: str | Path, out: Path, describe_error, quantize) -> tuple[dict[str, str], dict]:
    """The three files in `out` beside the tokenizer; per backend, the error that stopped it ("" when none), and how
    `quantize` (out -> its record) made the int8 file."""
    from tasks.registry.program_exports import write_program_exports

    return write_program_exports(lambda: trace_spans(model_dir), out, OUTPUTS, quantize, describe_error)


def check_parity(out: Path, backend: str, reference, found) -> dict:
    """Answer agreement and max |logit difference| (start and end, every window) of one backend against eager's."""
    import numpy as np

    (ranked, starts, ends, seconds), (expected, eager_starts, eager_ends, eager_seconds) = found, reference
    agreement = float(np.mean([a[0] == b[0] for a, b in zip(ranked, expected)])) if expected else 1.0
    diff = max((float(np.abs(a - b).max(initial=0.0)) for pair in ((starts, eager_starts), (ends, eager_ends))
                for a, b in zip(*pair)), default=0.0)
    return {"compared": "answers", "agreement": round(agreement, 6), "max_abs_logit_diff": diff, "rows": len(expected),
            "seconds": round(seconds, 2), "eager_seconds": round(eager_seconds, 2),
            "status": "passed" if agreement >= MIN_AGREEMENT else "failed",
            "files": backend_files(out, backend), "bytes": (out / BACKEND_FILES[backend]).stat().st_size}


def export_answerer(params: Params, model_dir: str | Path, out: Path, test, describe_error) -> dict:
    """The three exports written into `out`, each with its parity record on the test questions."""
    from tasks.training.loading import load_trained_tokenizer

    from tasks.kinds.qa.tokenize import encode_windows

    tokenizer = load_trained_tokenizer(model_dir)
    validation = read_validation(params)
    errors, quantization = write_exports(model_dir, out, describe_error,
                                         lambda out: quantize_with_fallback(out, tokenizer, validation, params))
    questions, contexts = test["question"].astype(str).tolist(), test["context"].astype(str).tolist()
    windows = encode_windows(tokenizer, questions, contexts, params.tokenize.max_length, params.tokenize.stride)
    reference = answer_with(Path(model_dir), "eager", tokenizer, windows, contexts, params)
    from tasks.registry.program_exports import check_backends

    record = check_backends(errors, lambda backend: check_parity(
        out, backend, reference, answer_with(out, backend, tokenizer, windows, contexts, params)), describe_error)
    if quantization:
        record["onnx-int8"]["quantization"] = quantization
    record["min_agreement"] = MIN_AGREEMENT
    return record


def read_validation(params: Params):
    """The validation split's questions and contexts (the int8 fallback is chosen on them); none without one."""
    import pandas as pd

    path = Path(params.paths.validated) / "validation.parquet"  # beside the test split the parity check reads
    return pd.read_parquet(path, columns=["question", "context"]) if path.is_file() else \
        pd.DataFrame(columns=["question", "context"])

"""int8 weights for a span model's ONNX export, and the questions that go back to fp32.

int8 weights move every logit a little, so they flip only the questions whose two best answers stand near a tie. As
the classifier's rows near a tie, those questions may go back to the fp32 file (tasks.kinds.qa.spans): the gap
starts at twice the 99th percentile of how far int8 moved the validation questions' best-answer scores (a margin is a
difference of two such scores) and widens along FALLBACK_GAPS until int8 with it keeps CHOICE_AGREEMENT of the
validation answers; where that would send more than MAX_FALLBACK_SHARE of the questions to fp32, there is no
fallback and the parity check alone decides. Measured on the built-in facts (400 test questions): a model trained
5 epochs (exact match 73) kept every answer with int8 alone; one trained 1 epoch (exact match 27) kept 98.5 %."""

from __future__ import annotations

import time
from pathlib import Path

from tasks.core.config import Params
from tasks.registry.backends import FALLBACK_FILE, INT8_FILE, ONNX_FILE

# Share of test questions whose answer must be eager PyTorch's, word for word: the classifier's label bar.
MIN_AGREEMENT = 0.995
CHOICE_AGREEMENT = 1 - (1 - MIN_AGREEMENT) / 2  # on validation, half the allowed flips: room for the test questions
MARGIN_QUANTILE = 0.99
FALLBACK_GAPS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)  # log-probability
MAX_FALLBACK_SHARE = 0.2  # beyond it, int8 and the fp32 re-run together are no faster than fp32 alone


def quantize_spans(out: Path) -> None:
    """int8 weights as the classifier's (per-channel, 7-bit: onnxruntime's advice for CPUs without VNNI)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.disable(logging.WARNING)  # the quantizer suggests pre-processing on every call
    try:
        quantize_dynamic(str(out / ONNX_FILE), str(out / INT8_FILE), weight_type=QuantType.QInt8, per_channel=True,
                         reduce_range=True)
    finally:
        logging.disable(logging.NOTSET)


def answer_with(folder: Path, backend: str, tokenizer, windows, contexts: list[str], params: Params):
    """(the answers ranked: text, log-probability, margin; start and end logits per window; seconds) of one
    backend on the windows, as it serves them."""
    from tasks.kinds.qa.evaluate import score_windows
    from tasks.kinds.qa.spans import load_spans

    start = time.perf_counter()
    ranked, starts, ends = score_windows(load_spans(folder, backend), tokenizer, windows, contexts, params)
    return ranked, starts, ends, time.perf_counter() - start


def pick_fallback_gap(int8: list, fp32: list) -> float | None:
    """The smallest gap from how far int8 moved the best-answer scores on, widened along FALLBACK_GAPS, whose
    fallback keeps CHOICE_AGREEMENT of fp32's answers; None where that sends more than MAX_FALLBACK_SHARE of the
    questions to fp32, or where int8 moved no score. `int8`, `fp32`: rank_answers' (text, score, margin) per question."""
    import numpy as np

    shifts = [abs(a[1] - b[1]) for a, b in zip(int8, fp32) if np.isfinite(a[1]) and np.isfinite(b[1])]
    # Up to the next hundredth, past float noise (0.1 - 0.09 is 0.010000000000000009).
    moved = float(np.ceil(round(200 * float(np.quantile(shifts, MARGIN_QUANTILE)), 6))) / 100 if shifts else 0.0
    if not moved:
        return None
    margins = np.array([margin for _, _, margin in int8])
    for gap in (moved, *(gap for gap in FALLBACK_GAPS if gap > moved)):
        near = margins < gap
        if near.mean() > MAX_FALLBACK_SHARE:
            return None
        # A question sent back is answered by fp32 itself, all its windows: its answer is fp32's.
        if np.mean([n or a[0] == b[0] for n, a, b in zip(near, int8, fp32)]) >= CHOICE_AGREEMENT:
            return gap
    return None


def quantize_with_fallback(out: Path, tokenizer, validation, params: Params) -> dict:
    """int8 weights, and the fallback file where pick_fallback_gap chose a gap on the validation questions; how."""
    import json

    from tasks.kinds.qa.tokenize import encode_windows

    (out / FALLBACK_FILE).unlink(missing_ok=True)
    quantize_spans(out)
    record = {"method": "dynamic, per-channel, 7-bit weights", "validation_rows": len(validation)}
    if not len(validation):
        return record | {"validation_agreement": None}
    contexts = validation["context"].astype(str).tolist()
    windows = encode_windows(tokenizer, validation["question"].astype(str).tolist(), contexts,
                             params.tokenize.max_length, params.tokenize.stride)
    fp32 = answer_with(out, "onnx", tokenizer, windows, contexts, params)[0]  # eager's answers (parity 1.0 so far)
    int8 = answer_with(out, "onnx-int8", tokenizer, windows, contexts, params)[0]
    alone = sum(a[0] == b[0] for a, b in zip(int8, fp32)) / len(fp32)
    gap = pick_fallback_gap(int8, fp32)
    if gap is None:
        return record | {"validation_agreement": round(alone, 6)}
    (out / FALLBACK_FILE).write_text(json.dumps({"fallback_gap": gap}) + "\n")
    served = answer_with(out, "onnx-int8", tokenizer, windows, contexts, params)[0]  # now through the fallback
    share = sum(margin < gap for _, _, margin in int8) / len(int8)
    return record | {"method": f"{record['method']}; questions whose two best answers are within {gap} "
                               "(log-probability) answered by fp32", "fallback_gap": gap,
                     "validation_agreement": round(sum(a[0] == b[0] for a, b in zip(served, fp32)) / len(fp32), 6),
                     "validation_fallback_share": round(share, 6), "tried": {"int8 alone": round(alone, 6)}}

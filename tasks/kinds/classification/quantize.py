"""int8 weights for a classifier's ONNX export that keep its labels on validation rows, at as much of int8's speed as
that allows.

ONNX Runtime's dynamic quantization of every MatMul and Gemm weight (per-channel, 7-bit) comes first, with a
fallback: rows whose two highest int8 logits are nearer than a gap are scored again by the fp32 file
(tasks/registry/backends.with_fallback). int8 rounding moves a logit by a fraction of one, so it flips only rows near a
tie, and those are few. The gap is measured on every validation row, not only the flipped ones: how far int8 moved
the margin between each row's top two classes, its 99th percentile (SST-2: 0.88 logits, 10 % of rows to fp32; TREC,
whose logits are larger, 1.0-1.5, under 2 %); then widened along 0.1, 0.25, 0.5, ... 2 logits until the validation
labels hold. Chosen from the few rows that flipped, a gap that held a TREC model's 546 validation labels let 3 of
its 500 test labels flip (99.40 %, below the bar); from every row's margin, none flipped.
Where that would re-score more than a fifth of the rows (slower than keeping weights fp32) and int8 alone changes
more than 0.25 % of the validation labels (half the parity bar's 0.5 %: room for the test rows), each weight is
quantized alone to measure how far it moves the probabilities (KL divergence from fp32's: smooth, where the labels it
flips on a few hundred rows are mostly 0 or 1 and tie), and the most damaging stay in fp32 (the rest 8-bit): 2, 4,
6, ... 24 of them, until the validation labels hold; where none holds them, the try that kept the most. Chosen on
validation rows; the test rows are the parity check's. Static QDQ quantization calibrated on training sentences kept
fewer SST-2 labels (96.5-97.0 %, bench/int8_choices.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from tasks.registry.backends import FALLBACK_FILE, INT8_FILE, ONNX_FILE, TextScorer, near_tie

MIN_AGREEMENT = 0.995  # share of test labels an int8 file must keep: the export's parity bar
# The choice on validation leaves half the allowed flips as room: one that only just met the parity bar on validation
# missed it on test (SST-2: 6 weights kept, 99.70 % of 1,347 validation labels, 99.43 % of the 872 test labels).
CHOICE_AGREEMENT = 1 - (1 - MIN_AGREEMENT) / 2
KEPT_IN_FP32 = (2, 4, 6, 8, 10, 12, 16, 24)  # how many of the most damaging weights stay fp32, tried in turn
# Where the gap starts: the quantile of the validation rows' top-two margin changes (1 % of rows may move further).
MARGIN_QUANTILE = 0.99
FALLBACK_GAPS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)  # wider gaps tried in turn until the validation labels hold
# fp32 runs at about half int8's speed, so re-scoring more than a fifth of the rows is slower than the weight search.
MAX_FALLBACK_SHARE = 0.2
RANK_ROWS = 400  # validation rows the ranking reads (it quantizes and scores once per weight)


def weight_nodes(path: Path) -> list[str]:
    """The MatMul and Gemm nodes with a constant weight: what dynamic quantization turns into int8."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    constants = {tensor.name for tensor in graph.initializer}
    return [node.name for node in graph.node if node.op_type in ("MatMul", "Gemm") and
            any(name in constants for name in node.input[1:])]


def quantize_weights(out: Path, bits: int = 7, only: list[str] | None = None, exclude: list[str] | None = None) -> None:
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantizer turns a Gemm into a MatMul named NAME_MatMul (and an Add) before it reads these lists.
    with_gemms = lambda names: [name for node in names or [] for name in (node, f"{node}_MatMul")]
    logging.disable(logging.WARNING)  # the quantizer suggests pre-processing on every call
    try:
        quantize_dynamic(str(out / ONNX_FILE), str(out / INT8_FILE), weight_type=QuantType.QInt8, per_channel=True,
                         reduce_range=bits == 7, nodes_to_quantize=with_gemms(only), nodes_to_exclude=with_gemms(exclude))
    finally:
        logging.disable(logging.NOTSET)


def score_int8(out: Path, texts: list[str]):
    return TextScorer(out, "onnx-int8")(texts)


def agreement_of(logits, reference) -> float:
    import numpy as np

    return float(np.mean(logits.argmax(-1) == reference.argmax(-1)))


def divergence_of(logits, reference) -> float:
    """Mean KL divergence of the int8 probabilities from fp32's: how far a weight moves every row, flipped or not."""
    import numpy as np
    from scipy.special import log_softmax

    fp32, int8 = log_softmax(reference, axis=-1), log_softmax(logits, axis=-1)
    return float((np.exp(fp32) * (fp32 - int8)).sum(-1).mean())


def rank_weights(out: Path, texts: list[str], reference) -> list[tuple[str, float, int]]:
    """Each weight quantized alone: (node, KL divergence, labels flipped) on the texts, the most damaging first."""
    found = []
    for node in weight_nodes(out / ONNX_FILE):
        quantize_weights(out, only=[node])
        logits = score_int8(out, texts)
        flips = round((1 - agreement_of(logits, reference)) * len(texts))
        found.append((node, round(divergence_of(logits, reference), 8), flips))
    return sorted(found, key=lambda item: -item[1])


def quantize_classifier(out: Path, validation: list[str]) -> dict:
    """Write out/model.int8.onnx; how it was chosen, with its validation agreement (None: no validation rows)."""
    (out / FALLBACK_FILE).unlink(missing_ok=True)
    quantize_weights(out)
    record = {"method": "dynamic, per-channel, 7-bit weights", "kept_fp32": [], "validation_rows": len(validation)}
    if not validation:
        return record | {"validation_agreement": None}
    reference = TextScorer(out, "onnx")(validation)  # fp32 ONNX: eager's labels (parity 1.0 in every export so far)
    logits = score_int8(out, validation)
    agreement = agreement_of(logits, reference)
    if gap := pick_fallback_gap(logits, reference):
        return record | write_fallback(out, gap, validation, reference, logits) | {
            "tried": {"all weights int8": round(agreement, 6)}}
    if agreement >= CHOICE_AGREEMENT:  # no fallback within the share of rows, and none needed
        return record | {"validation_agreement": round(agreement, 6)}
    tried = {0: agreement}
    ranked = rank_weights(out, validation[:RANK_ROWS], reference[:RANK_ROWS])
    for count in KEPT_IN_FP32:
        write_choice(out, ranked, count)
        tried[count] = agreement_of(score_int8(out, validation), reference)
        if tried[count] >= CHOICE_AGREEMENT:
            break
    chosen = pick_try(tried)
    if chosen != count:
        write_choice(out, ranked, chosen)
    return {"method": ("dynamic, per-channel, 8-bit weights, the weights that move the probabilities most kept fp32"
                       if chosen else record["method"]),
            "kept_fp32": [node for node, *_ in ranked[:chosen]], "validation_rows": len(validation),
            "validation_agreement": round(tried[chosen], 6),
            "tried": {(f"{k} kept fp32" if k else "all weights int8"): round(a, 6) for k, a in tried.items()}}


def margin_change(logits, reference):
    """Per row, how far int8 moved the margin between its two highest int8 logits from fp32's margin there."""
    import numpy as np

    rows = np.arange(len(logits))
    second, first = np.argsort(logits, axis=-1)[:, -2:].T
    return np.abs((logits[rows, first] - logits[rows, second]) - (reference[rows, first] - reference[rows, second]))


def pick_fallback_gap(logits, reference) -> float | None:
    """The smallest gap past MARGIN_QUANTILE of the validation rows' margin changes whose fallback keeps the
    validation labels (fp32's logits where int8's are near a tie); None where that re-scores more than
    MAX_FALLBACK_SHARE of the rows, or where int8 moves no margin at all."""
    import numpy as np

    moved = float(np.ceil(100 * float(np.quantile(margin_change(logits, reference), MARGIN_QUANTILE)))) / 100
    if not moved:
        return None
    for gap in (moved, *(gap for gap in FALLBACK_GAPS if gap > moved)):
        near = near_tie(logits, gap)
        if near.mean() > MAX_FALLBACK_SHARE:
            return None
        if agreement_of(np.where(near[:, None], reference, logits), reference) >= CHOICE_AGREEMENT:
            return gap
    return None


def write_fallback(out: Path, gap: float, validation: list[str], reference, int8_alone) -> dict:
    """The fallback file beside the int8 one, and what int8 with it gives on the validation rows, measured."""
    (out / FALLBACK_FILE).write_text(json.dumps({"fallback_gap": gap}) + "\n")
    logits = score_int8(out, validation)  # now through the fallback, as served
    return {"method": f"dynamic, per-channel, 7-bit weights; rows whose top two logits are within {gap} scored by fp32",
            "fallback_gap": gap, "validation_agreement": round(agreement_of(logits, reference), 6),
            "validation_fallback_share": round(float(near_tie(int8_alone, gap).mean()), 6)}


def pick_try(tried: dict[int, float]) -> int:
    """How many weights to keep fp32, from each try's validation agreement (0: every weight int8, 7-bit): the fewest
    that reach the bar, or where none does, the try that kept the most labels (the fewest kept on a tie)."""
    passing = [count for count, agreement in tried.items() if agreement >= CHOICE_AGREEMENT]
    return min(passing) if passing else max(tried, key=lambda count: (tried[count], -count))


def write_choice(out: Path, ranked: list[tuple[str, float, int]], count: int) -> None:
    if count:
        quantize_weights(out, bits=8, exclude=[node for node, *_ in ranked[:count]])
    else:
        quantize_weights(out)

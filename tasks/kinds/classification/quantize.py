"""int8 weights for a classifier's ONNX export, with an fp32 fallback for the rows near a tie, chosen on validation
rows in seconds.

ONNX Runtime's dynamic quantization of every MatMul and Gemm weight (per-channel, 7-bit), and a fallback: rows whose
two highest int8 logits are nearer than a gap are scored again by the fp32 file (tasks/registry/backends.with_fallback).
int8 rounding moves a logit by a fraction of one, so it flips only rows near a tie, and those are few. The gap is
measured on every validation row, not only the flipped ones: how far int8 moved the margin between each row's top two
classes, its 99th percentile (rounded up to 0.01); then widened along 0.1, 0.25, 0.5, ... 8 logits until 99.75 % of
the validation labels hold (half the parity bar's 0.5 %: room for the test rows), and past the widest margin of a
flipped row where none of those does. Every model gets a gap, however many rows it sends to fp32: until 2026-12-07 a
gap that re-scored more than a fifth of the rows was refused, and a search for weights to keep fp32 ran instead,
which took minutes on a MiniLM and chose by the validation labels alone (the likely path of an issue's tweet-emotion
model: 217 s of export, 98.38 % of its test labels). Past about half of the rows int8 with the fallback is no faster
than fp32, but it keeps fp32's labels, and the parity check, not the speed, decides whether a backend is served.
bench/README.md has how the rule was chosen (the rules tried, the sets it was developed and checked on). Chosen on
validation rows; the test rows are the parity check's.
"""

from __future__ import annotations

import json
from pathlib import Path

from tasks.registry.backends import FALLBACK_FILE, INT8_FILE, ONNX_FILE, TextScorer, near_tie

MIN_AGREEMENT = 0.995  # share of test labels an int8 file must keep: the export's parity bar
# The choice on validation leaves half the allowed flips as room: one that only just met the parity bar on validation
# missed it on test (SST-2: 99.70 % of 1,347 validation labels, 99.43 % of the 872 test labels).
CHOICE_AGREEMENT = 1 - (1 - MIN_AGREEMENT) / 2
# Where the gap starts: the quantile of the validation rows' top-two margin changes (1 % of rows may move further).
MARGIN_QUANTILE = 0.99
FALLBACK_GAPS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)  # wider gaps tried in turn


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


def quantize_classifier(out: Path, validation: list[str]) -> dict:
    """Write out/model.int8.onnx, and its fallback where the validation rows call for one; how it was chosen, with its
    validation agreement (None: no validation rows)."""
    (out / FALLBACK_FILE).unlink(missing_ok=True)
    quantize_weights(out)
    record = {"method": "dynamic, per-channel, 7-bit weights", "validation_rows": len(validation)}
    if not validation:
        return record | {"validation_agreement": None}
    reference = TextScorer(out, "onnx")(validation)  # fp32 ONNX: eager's labels (parity 1.0 in every export so far)
    logits = score_int8(out, validation)
    alone = {"tried": {"all weights int8": round(agreement_of(logits, reference), 6)}}
    if gap := pick_fallback_gap(logits, reference):
        return record | write_fallback(out, gap, validation, reference, logits) | alone
    return record | {"validation_agreement": alone["tried"]["all weights int8"], "validation_fallback_share": 0.0} | alone


def top_margin(logits):
    """Per row, how far apart its two highest logits are."""
    import numpy as np

    top = np.sort(logits, axis=-1)[:, -2:]
    return top[:, 1] - top[:, 0]


def margin_change(logits, reference):
    """Per row, how far int8 moved the margin between its two highest int8 logits from fp32's margin there."""
    import numpy as np

    rows = np.arange(len(logits))
    second, first = np.argsort(logits, axis=-1)[:, -2:].T
    return np.abs((logits[rows, first] - logits[rows, second]) - (reference[rows, first] - reference[rows, second]))


def pick_fallback_gap(logits, reference) -> float | None:
    """The smallest gap past MARGIN_QUANTILE of the validation rows' margin changes whose fallback keeps
    CHOICE_AGREEMENT of the validation labels (fp32's logits where int8's are near a tie), else just past the widest
    int8 margin of a flipped row; None where int8 moves no margin."""
    import numpy as np

    moved = float(np.ceil(100 * float(np.quantile(margin_change(logits, reference), MARGIN_QUANTILE)))) / 100
    if not moved:
        return None
    for gap in (moved, *(gap for gap in FALLBACK_GAPS if gap > moved)):
        if agreement_of(np.where(near_tie(logits, gap)[:, None], reference, logits), reference) >= CHOICE_AGREEMENT:
            return gap
    return float(np.floor(100 * top_margin(logits)[logits.argmax(-1) != reference.argmax(-1)].max()) + 1) / 100


def write_fallback(out: Path, gap: float, validation: list[str], reference, int8_alone) -> dict:
    """The fallback file beside the int8 one, and what int8 with it gives on the validation rows, measured."""
    (out / FALLBACK_FILE).write_text(json.dumps({"fallback_gap": gap}) + "\n")
    logits = score_int8(out, validation)  # now through the fallback, as served
    return {"method": f"dynamic, per-channel, 7-bit weights; rows whose top two logits are within {gap} scored by fp32",
            "fallback_gap": gap, "validation_agreement": round(agreement_of(logits, reference), 6),
            "validation_fallback_share": round(float(near_tie(int8_alone, gap).mean()), 6)}

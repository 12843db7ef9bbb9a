"""int8 weights for a classifier's ONNX export: as many weights in int8 as keep its labels on validation rows.

ONNX Runtime's dynamic quantization of every MatMul and Gemm weight (per-channel, 7-bit: what CPUs without VNNI,
as here, want) comes first. When it changes more than 0.5 % of the validation labels, each weight is quantized alone
to count the labels it flips, and the most damaging stay in fp32 (the rest 8-bit): 4, 8, 16, then 24 of them, until
the validation labels hold. Chosen on validation rows; the test rows are the parity check's. On the SST-2 champion
(bench/int8_choices.py, 1,347 validation rows) every weight in int8 kept 98.7 % of the labels; static QDQ
quantization calibrated on training sentences, 96.5-97.0 %; 8 weights of 38 in fp32, 99.55 % at 1.8x fp32's speed.
"""

from __future__ import annotations

from pathlib import Path

from tasks.registry.backends import INT8_FILE, ONNX_FILE, TextScorer

MIN_AGREEMENT = 0.995  # share of rows whose label must match: the export's parity bar
KEPT_IN_FP32 = (4, 8, 12, 16, 24)  # how many of the most damaging weights stay fp32, tried in turn
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

    logging.disable(logging.WARNING)  # the quantizer suggests pre-processing on every call
    try:
        quantize_dynamic(str(out / ONNX_FILE), str(out / INT8_FILE), weight_type=QuantType.QInt8, per_channel=True,
                         reduce_range=bits == 7, nodes_to_quantize=only or [], nodes_to_exclude=exclude or [])
    finally:
        logging.disable(logging.NOTSET)


def agreement_with(out: Path, texts: list[str], reference) -> float:
    import numpy as np

    return float(np.mean(TextScorer(out, "onnx-int8")(texts).argmax(-1) == reference.argmax(-1)))


def rank_weights(out: Path, texts: list[str], reference) -> list[tuple[str, int]]:
    """Each weight quantized alone: how many of the texts' labels it flips, the most damaging first."""
    flips = []
    for node in weight_nodes(out / ONNX_FILE):
        quantize_weights(out, only=[node])
        flips.append((node, round((1 - agreement_with(out, texts, reference)) * len(texts))))
    return sorted(flips, key=lambda item: -item[1])


def quantize_classifier(out: Path, validation: list[str]) -> dict:
    """Write out/model.int8.onnx; how it was chosen, with its validation agreement (None: no validation rows)."""
    quantize_weights(out)
    record = {"method": "dynamic, per-channel, 7-bit weights", "kept_fp32": [], "validation_rows": len(validation)}
    if not validation:
        return record | {"validation_agreement": None}
    reference = TextScorer(out, "onnx")(validation)  # fp32 ONNX: eager's labels (parity 1.0 in every export so far)
    agreement = agreement_with(out, validation, reference)
    if agreement >= MIN_AGREEMENT:
        return record | {"validation_agreement": round(agreement, 6)}
    tried = {"all weights int8": round(agreement, 6)}
    ranked = rank_weights(out, validation[:RANK_ROWS], reference[:RANK_ROWS])
    for count in KEPT_IN_FP32:
        kept = [node for node, _ in ranked[:count]]
        quantize_weights(out, bits=8, exclude=kept)
        agreement = agreement_with(out, validation, reference)
        tried[f"{count} kept fp32"] = round(agreement, 6)
        if agreement >= MIN_AGREEMENT:
            break
    return {"method": "dynamic, per-channel, 8-bit weights, the most label-flipping weights kept fp32",
            "kept_fp32": kept, "validation_rows": len(validation), "validation_agreement": round(agreement, 6),
            "tried": tried}

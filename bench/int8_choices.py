"""Which int8 quantization of a classifier's ONNX export keeps its labels: candidates side by side on validation rows.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/int8_choices.py [--params configs/sst2.yaml] [--calibration 512]
        [--out bench/results/int8_choices.json]

Reads the fp32 export of the params file's champion (paths.export) and its validation split, writes each candidate
into a temporary folder and scores the validation texts with it (the serving code, tasks/registry/backends.py):
label agreement with fp32 (the export's parity bar is 99.5 %), validation accuracy, and sentences/s in length-sorted
batches of 128 against fp32 ONNX (interleaved, medians of --repeats). Candidates: ONNX Runtime's dynamic
quantization (today's export: per-channel, 7-bit weights), its variants (MatMul only, 8-bit, the attention output and
classifier head kept in fp32), and static QDQ quantization calibrated on --calibration training sentences (MinMax,
Percentile, Entropy). Settings are chosen on validation rows; the test split is left to the export's parity check.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, make_parser, print_table, write_result  # noqa: E402

KEEP = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def calibration_reader(folder: Path, texts: list[str], batch: int = 16):
    """ONNX Runtime's CalibrationDataReader over tokenized training sentences, in padded batches."""
    import numpy as np
    from onnxruntime.quantization import CalibrationDataReader
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(range(0, len(texts), batch))

        def get_next(self):
            start = next(self.batches, None)
            if start is None:
                return None
            # One fixed length: the histogram calibrators (Percentile, Entropy) stack every batch's values.
            encoded = tokenizer(texts[start:start + batch], truncation=True, max_length=64, padding="max_length",
                                return_tensors="np")
            return {key: encoded[key].astype(np.int64) for key in ("input_ids", "attention_mask")}

    return Reader()


def make_candidates(source: Path, calibration: list[str], sensitive: list[tuple[str, int]]) -> dict:
    """name -> function(fp32 path, int8 path) writing that candidate; `sensitive`: weight nodes, most damaging first."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static

    names = [node.name for node in onnx.load(str(source / "model.onnx"), load_external_data=False).graph.node]
    head = [n for n in names if n.startswith("node_linear")]  # the dynamo exporter's names: Gemm of pooler, classifier
    dynamic = lambda **extra: (lambda fp32, int8: quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8, **extra))
    static = lambda method, **extra: (lambda fp32, int8: quantize_static(
        fp32, int8, calibration_reader(source, calibration), quant_format=QuantFormat.QDQ, per_channel=True,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=method,
        op_types_to_quantize=["MatMul", "Gemm"], **extra))
    return {
        "dynamic per-channel 7-bit (today)": dynamic(per_channel=True, reduce_range=True),
        "dynamic per-channel 8-bit": dynamic(per_channel=True, reduce_range=False),
        "dynamic MatMul only, 7-bit": dynamic(per_channel=True, reduce_range=True, op_types_to_quantize=["MatMul"]),
        "dynamic 7-bit, head in fp32": dynamic(per_channel=True, reduce_range=True, nodes_to_exclude=head),
        "static QDQ MinMax": static(CalibrationMethod.MinMax),
        "static QDQ Percentile 99.999": static(CalibrationMethod.Percentile,
                                               extra_options={"CalibPercentile": 99.999}),
        "static QDQ Entropy": static(CalibrationMethod.Entropy),
        "static QDQ MinMax, head in fp32": static(CalibrationMethod.MinMax, nodes_to_exclude=head),
        "the export's own int8 file": copy_export_int8(source),
    } | {f"blocked 8-bit weights, blocks of {block} (MatMulNBits)": blocked(block) for block in (32, 64, 128)} | {
        f"dynamic {bits}-bit, the {k} most sensitive weights in fp32": dynamic(
            per_channel=True, reduce_range=bits == 7, nodes_to_exclude=[node for node, *_ in sensitive[:k]])
            for bits in (7, 8) for k in (4, 6, 8, 12, 16, 24)}


def copy_export_int8(source: Path):
    """The export's int8 file, with its fp32 fallback when it has one (served so)."""
    from tasks.registry.backends import backend_files

    return lambda fp32, int8: [shutil.copy(source / name, Path(int8).parent / name)
                               for name in backend_files(source, "onnx-int8")]


def blocked(block: int):
    """Every MatMul weight in 8 bits with a scale per block of `block` inputs (MatMulNBits); at accuracy level 4
    the activations are quantized to int8 per block at run time too, where dynamic quantization has one scale per
    tensor. The head's Gemm stays fp32 (the quantizer takes MatMuls only)."""

    def write(fp32: str, int8: str) -> None:
        import onnx
        from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer

        quantizer = MatMulNBitsQuantizer(onnx.load(fp32), algo_config=DefaultWeightOnlyQuantConfig(
            block_size=block, is_symmetric=True, accuracy_level=4, bits=8))
        quantizer.process()
        quantizer.model.save_model_to_file(int8, use_external_data_format=False)

    return write


def weight_nodes(path: Path) -> list[str]:
    """The MatMul and Gemm nodes with a constant weight: what dynamic quantization turns into int8."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    constants = {tensor.name for tensor in graph.initializer}
    return [node.name for node in graph.node if node.op_type in ("MatMul", "Gemm") and
            any(name in constants for name in node.input[1:])]


def divergence_of(logits, reference) -> float:
    """Mean KL divergence of the int8 probabilities from fp32's: how far a weight moves every row, flipped or not."""
    import numpy as np
    from scipy.special import log_softmax

    fp32, int8 = log_softmax(reference, axis=-1), log_softmax(logits, axis=-1)
    return float((np.exp(fp32) * (fp32 - int8)).sum(-1).mean())


def rank_sensitivity(source: Path, texts: list[str], reference) -> list[tuple[str, float, int]]:
    """Each weight node quantized alone: (node, KL divergence from fp32, labels flipped), most damaging first (the
    ranking the export searched by until it chose a fallback for every model)."""
    from tasks.kinds.classification.quantize import agreement_of, quantize_weights, score_int8

    folder = copy_folder(source)
    try:
        shutil.copy(source / "model.onnx", folder / "model.onnx")
        found = []
        for node in weight_nodes(folder / "model.onnx"):
            quantize_weights(folder, only=[node])
            logits = score_int8(folder, texts)
            flips = round((1 - agreement_of(logits, reference)) * len(texts))
            found.append((node, round(divergence_of(logits, reference), 8), flips))
        return sorted(found, key=lambda item: -item[1])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def copy_folder(source: Path) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="int8-"))
    for keep in KEEP:
        if (source / keep).is_file():
            shutil.copy(source / keep, folder / keep)
    return folder


def score(scorer, texts: list[str], repeats: int, against=None):
    """Logits and sentences/s (median of `repeats`) of a TextScorer; with `against` (another one), its sentences/s
    too, timed in turn with this one in every repeat, so that both see the same state of the machine."""
    scorer(texts[:64])  # warm-up
    times: dict[str, list[float]] = {"this": [], "against": []}
    found = {}
    for _ in range(repeats):
        for name, run in (("this", scorer), ("against", against)) if against else (("this", scorer),):
            started = time.perf_counter()
            found[name] = run(texts)
            times[name].append(time.perf_counter() - started)
    speed = lambda taken: len(texts) / sorted(taken)[len(taken) // 2] if taken else None
    return found["this"], speed(times["this"]), speed(times["against"])


def main() -> None:
    import numpy as np
    import pandas as pd

    from tasks.core.config import load_params

    parser = make_parser(__doc__, "bench/results/int8_choices.json")
    parser.add_argument("--params", default="configs/sst2.yaml")
    parser.add_argument("--calibration", type=int, default=512)
    parser.add_argument("--sensitivity", help="A result JSON of this script whose node ranking to reuse.")
    parser.add_argument("--only", help="Run only the candidates whose name holds this text.")
    args = parser.parse_args()
    params = load_params(REPO / args.params)
    source = REPO / params.paths.export
    data = REPO / params.paths.dataset
    validation = pd.read_parquet(data / "validation.parquet")
    texts, labels = validation["text"].astype(str).tolist(), validation["label"].astype(str).tolist()
    train = pd.read_parquet(data / "train.parquet")["text"].astype(str)
    calibration = train.sample(n=min(args.calibration, len(train)), random_state=params.project.seed).tolist()
    import json

    id2label = json.loads((source / "config.json").read_text())["id2label"]
    from tasks.registry.backends import TextScorer

    fp32 = TextScorer(source, "onnx")  # timed in turn with each candidate too
    reference, fp32_speed, _ = score(fp32, texts, args.repeats)
    accuracy = lambda logits: float(np.mean([id2label[str(i)] == label for i, label in zip(logits.argmax(-1), labels)]))
    rows = [{"candidate": "fp32 ONNX", "agreement": 1.0, "accuracy": round(accuracy(reference), 4),
             "sentences_per_s": round(fp32_speed, 1), "speed_vs_fp32": 1.0, "passes": True}]
    chosen = lambda name: not args.only or args.only in name
    started, sensitive = time.perf_counter(), []
    if args.sensitivity:
        sensitive = json.loads(Path(args.sensitivity).read_text())["sensitivity"]
    elif any("most sensitive" in name for name in make_candidates(source, calibration, []) if chosen(name)):
        sensitive = rank_sensitivity(source, texts, reference)  # 3-4 min on a MiniLM: only when a candidate reads it
        print(f"sensitivity of {len(sensitive)} weight nodes in {time.perf_counter() - started:.0f} s: "
              f"{sensitive[:12]}", flush=True)
    for name, write in make_candidates(source, calibration, sensitive).items():
        if not chosen(name):
            continue
        folder = copy_folder(source)
        try:
            started = time.perf_counter()
            write(str(source / "model.onnx"), str(folder / "model.int8.onnx"))
            made = time.perf_counter() - started
            logits, speed, fp32_now = score(TextScorer(folder, "onnx-int8"), texts, args.repeats, against=fp32)
            agreement = float(np.mean(logits.argmax(-1) == reference.argmax(-1)))
            rows.append({"candidate": name, "agreement": round(agreement, 4), "accuracy": round(accuracy(logits), 4),
                         "sentences_per_s": round(speed, 1), "speed_vs_fp32": round(speed / fp32_now, 2),
                         "passes": agreement >= 0.995, "quantize_s": round(made, 1)})
        except Exception as error:  # noqa: BLE001 - a candidate the quantizer refuses is a row, not the end
            rows.append({"candidate": name, "error": str(error).splitlines()[0][:160]})
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        print(rows[-1], flush=True)
    print_table(f"int8 candidates on {len(texts)} validation rows of {args.params}", rows,
                [(key, key) for key in ("candidate", "agreement", "accuracy", "sentences_per_s", "speed_vs_fp32",
                                        "passes")])
    write_result(REPO / args.out, {"params": args.params, "validation_rows": len(texts), "rows": rows,
                                   "sensitivity": sensitive})


if __name__ == "__main__":
    main()

"""The decoder family matrix on CUDA (on the CPU where there is none): each family through lmforge's step cores.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/gpu_matrix.py [--families gpt2,llama,...] [--lora both|none|only]
        [--steps 60] [--rows 1000] [--pretrained llama=FOLDER] [--set KEY=VALUE] [--out bench/results/gpu_matrix.json]

Each family's tiny random-weight checkpoint (tests/families.py: GPT-2, Llama, Qwen2, Mistral, Phi, GPT-NeoX), or a
checkpoint folder given with --pretrained FAMILY=FOLDER, as model.pretrained on builtin:stories (params.causal_lm.yaml),
in a fresh project folder each: ingest, validate, tokenize (the checkpoint's own tokenizer), train --steps steps with
train.precision auto (bf16 mixed precision on a GPU that has it, else fp32), evaluate, export with its parity check
(greedy continuations of the test prompts on ONNX Runtime against eager PyTorch), and the export's continuations
against evaluate's own (what `lmforge serve` answers against what evaluate wrote). Full fine-tuning and LoRA (PEFT's
target modules for the family, merged) side by side. Training runs on the GPU; evaluate and the export's parity check
run where lmforge runs them, on the CPU. One run that fails is recorded with its error; the others go on.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, print_table, write_result  # noqa: E402

sys.path.insert(0, str(REPO))
DECODERS = ("gpt2", "llama", "qwen2", "mistral", "phi", "gpt_neox")  # tests/families.py's


def describe_device() -> dict:
    import torch

    from tasks.training.budget import choose_device

    chosen = choose_device("auto")
    cuda = torch.cuda.is_available()
    return {"device": torch.cuda.get_device_name(0) if cuda else "cpu",
            "precision": "bf16" if chosen["bf16"] else "fp32"}


def run_family(family: str, folder: Path, lora: bool, args, root: Path) -> dict:
    """One family through the step cores in its own project folder; the row of the table."""
    import pandas as pd

    from tasks.core.config import load_params
    from tasks.evaluate import evaluate_model
    from tasks.export import export_model, read_test
    from tasks.ingest import ingest_dataset
    from tasks.kinds.causal_lm.onnx import OnnxGenerator
    from tasks.kinds.causal_lm.tokenize import prompt_of
    from tasks.registry.predictions import PREDICTIONS_FILE
    from tasks.tokenize import tokenize_dataset
    from tasks.train import train_model
    from tasks.validate import validate_dataset

    project = root / f"{family}{'-lora' if lora else ''}"
    project.mkdir(parents=True)
    os.chdir(project)  # params paths are relative to the project folder, as in `lmforge run`
    settings = [f"model.pretrained={folder}", f"train.max_steps={args.steps}", "train.precision=auto",
                f"data.sample.rows={args.rows}", "train.resume=false", "train.early_stopping_patience=0",
                "evaluate.samples=4", *(["train.lora={r: 8, alpha: 16, dropout: 0.0, merge: true}"] if lora else []),
                *args.set]
    params = load_params(REPO / "params.causal_lm.yaml", settings)
    ingest_dataset(params)
    report = validate_dataset(params)
    if not report.success:
        raise RuntimeError(f"validation failed: {report.failures}")
    tokens = tokenize_dataset(params, "gpu-matrix")
    started = time.perf_counter()
    trained = train_model(params, tokens, show_progress=False)
    train_seconds = time.perf_counter() - started
    metrics = evaluate_model(params, trained.path, show_progress=False).metrics
    record = export_model(params, trained.path, read_test(params))
    row = {"family": family, "lora": lora, "steps": trained.steps, "train_s": round(train_seconds, 1),
           "perplexity": metrics.get("eval_perplexity"), "word_perplexity": metrics.get("eval_word_perplexity"),
           "export": record}
    for backend in ("onnx", "onnx-int8"):
        found = record.get(backend, {})
        row |= {f"{backend}_status": found.get("status"), f"{backend}_identical": found.get("identical"),
                f"{backend}_logit_diff": found.get("max_abs_logit_diff"), f"{backend}_speedup": found.get("speedup")}
    if record.get("onnx", {}).get("status") == "passed":  # served from the export: the same text evaluate wrote
        test = read_test(params)["text"].astype(str).tolist()
        served = OnnxGenerator(params.paths.export, "onnx", params)([prompt_of(text) for text in test])
        written = pd.read_parquet(Path(params.paths.metrics) / PREDICTIONS_FILE)["predicted"].astype(str).tolist()
        row["served_equals_evaluate"] = round(sum(a == b for a, b in zip(served, written)) / max(len(test), 1), 4)
    return row


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=",".join(DECODERS))
    parser.add_argument("--lora", choices=("both", "none", "only"), default="both")
    parser.add_argument("--steps", type=int, default=60, help="Training steps per run.")
    parser.add_argument("--rows", type=int, default=1000, help="builtin:stories rows (data.sample.rows).")
    parser.add_argument("--pretrained", action="append", default=[], help="FAMILY=FOLDER: a checkpoint of your own.")
    parser.add_argument("--set", action="append", default=[], help="A params override for every run.")
    parser.add_argument("--out", default="bench/results/gpu_matrix.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from tests.families import cached_checkpoint

    device = describe_device()
    own = dict(item.split("=", 1) for item in args.pretrained)
    variants = {"both": (False, True), "none": (False,), "only": (True,)}[args.lora]
    rows = []
    with tempfile.TemporaryDirectory(prefix="lmforge-matrix-") as scratch:
        root = Path(scratch)
        for family in args.families.split(","):
            folder = Path(own[family]).resolve() if family in own else cached_checkpoint(family, root / "checkpoints")
            for lora in variants:
                print(f"{family}{' + LoRA' if lora else ''} ...", file=sys.stderr, flush=True)
                started = time.perf_counter()
                try:
                    row = run_family(family, folder, lora, args, root / "runs")
                except Exception as error:  # one family that fails should not lose the others' rows
                    row = {"family": family, "lora": lora, "error": f"{type(error).__name__}: {str(error)[:300]}"}
                finally:
                    os.chdir(REPO)
                rows.append(row | {"seconds": round(time.perf_counter() - started, 1), **device})
    print_table(f"decoder families on {device['device']} ({device['precision']} training): export parity", rows,
                [("family", "family"), ("lora", "LoRA"), ("steps", "steps"), ("train_s", "train s"),
                 ("word_perplexity", "word ppl"), ("onnx_status", "onnx"), ("onnx_identical", "identical"),
                 ("onnx_logit_diff", "max |dlogit|"), ("onnx-int8_status", "int8"), ("onnx-int8_identical", "identical"),
                 ("onnx-int8_logit_diff", "max |dlogit|"), ("served_equals_evaluate", "served = evaluate"),
                 ("error", "error")])
    write_result(REPO / args.out, {"settings": vars(args), "device": device, "rows": rows})


if __name__ == "__main__":
    main()

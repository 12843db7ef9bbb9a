"""Multi30k de->en from scratch through the lmforge flow, within a wall-clock training budget.

    .venv/bin/python bench/seq2seq_multi30k.py --minutes 30 [--datasets ../shared/datasets] [--set train.batch_size=96]

Reads ../shared/datasets/multi30k_de_en through links (train, val, test_2016_flickr; nothing is copied), runs
`retrain` on params.seq2seq.yaml plus the overrides below, then times generation on the test set (beam and greedy).
Writes bench/results/multi30k-<minutes>m.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FILES = {"train.jsonl": "train.jsonl", "val.jsonl": "val.jsonl", "test.jsonl": "test_2016_flickr.jsonl"}
# Joint BPE, a 3+3-layer d_model 256 Marian-style model, label smoothing, a linear schedule that reaches 0 at the step
# count the budget allows at the measured speed (--steps-per-second), cased text as sacreBLEU scores it.
OVERRIDES = [
    "tokenize.vocab_size=8000", "tokenize.lowercase=false", "tokenize.max_length=64", "tokenize.max_target_length=64",
    "model.from_scratch={layers: 3, decoder_layers: 3, hidden_size: 256, heads: 4, intermediate_size: 1024, dropout: 0.1}",
    "train.epochs=100", "train.batch_size=64", "train.learning_rate=0.001", "train.warmup_steps=800",
    "train.scheduler=linear", "train.label_smoothing=0.1", "train.early_stopping_patience=4", "train.threads=2",
    "evaluate.num_beams=5", "evaluate.batch_size=64", "evaluate.max_new_tokens=64",
    "validate.max_length_ratio=30", "validate.max_identical_share=null",
    "promote.floors={bleu: 0}", "registry.model_name=bench-multi30k",
]


def make_project(root: Path, datasets: Path) -> Path:
    """A scratch lmforge project (git + DVC) whose data folder links to the shared files."""
    root.mkdir(parents=True)
    for name in ("dvc.yaml", "params.yaml", "params.seq2seq.yaml"):
        (root / name).write_text((REPO / name).read_text())
    (root / "tasks").symlink_to(REPO / "tasks")
    links = root / "multi30k"
    links.mkdir()
    for link, target in FILES.items():
        (links / link).symlink_to(datasets / "multi30k_de_en" / target)
    (root / "data" / "raw").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
    (root / ".dvc" / "config").write_text((REPO / ".dvc" / "config").read_text())
    return root


def time_generation(params, beams: int) -> tuple[float, float, int]:
    """(BLEU, sentences per second) of the trained model on the test split at this beam size."""
    import pandas as pd
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from tasks.evaluate_seq2seq import generate
    from tasks.seq2seq_metrics import corpus_scores
    from tasks.tokenize_pairs import target_tokenizer

    test = pd.read_parquet(Path(params.paths.dataset) / "test.parquet")
    model = AutoModelForSeq2SeqLM.from_pretrained(params.paths.model).eval()
    tokenizer, decoder = AutoTokenizer.from_pretrained(params.paths.model), target_tokenizer(params.paths.model)
    settings = params.model_copy(update={"evaluate": params.evaluate.model_copy(update={"num_beams": beams})})
    start = time.perf_counter()
    hyps = generate(model, tokenizer, decoder, test["source"].tolist(), settings)
    seconds = time.perf_counter() - start
    return corpus_scores(hyps, test["target"].tolist())["bleu"], len(hyps) / seconds, len(hyps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, required=True, help="Training budget (wall clock).")
    parser.add_argument("--datasets", type=Path, default=Path(os.environ.get("LMFORGE_DATASETS", REPO.parent / "shared/datasets")))
    parser.add_argument("--steps-per-second", type=float, default=2.3,
                        help="Training speed at batch 64 (2.3 on the 2-core CPU here): sets max_steps so that the "
                             "learning rate reaches 0 as the budget ends; the budget still stops training.")
    parser.add_argument("--set", dest="extra", action="append", default=[], help="More params overrides.")
    args = parser.parse_args()
    results = REPO / "bench" / "results"
    root = make_project(results / f"multi30k-{args.minutes:g}m-{time.strftime('%Y%m%d-%H%M%S')}", args.datasets.resolve())
    os.chdir(root)
    from tasks.runtime import configure_runtime

    configure_runtime()
    from flows.retrain import retrain
    from tasks.config import load_params
    from tasks.train import read_model_meta

    steps = int(args.minutes * 60 * args.steps_per_second * 0.95)
    overrides = [f"data.source={root / 'multi30k'}", *OVERRIDES, f"train.time_budget_s={args.minutes * 60}",
                 f"train.max_steps={steps}", *args.extra]
    started = time.perf_counter()
    summary = retrain("params.seq2seq.yaml", overrides, force=True)
    flow_seconds = time.perf_counter() - started
    params = load_params("params.seq2seq.yaml", overrides)
    meta = read_model_meta(params.paths.model)
    import pandas as pd

    train = pd.read_parquet(Path(params.paths.tokenized) / "train.parquet")
    tokens_per_epoch = int(train["input_ids"].map(len).sum() + train["labels"].map(len).sum())
    greedy_bleu, greedy_speed, rows = time_generation(params, 1)
    beam_bleu, beam_speed, _ = time_generation(params, params.evaluate.num_beams)
    from transformers import AutoModelForSeq2SeqLM

    parameters = sum(p.numel() for p in AutoModelForSeq2SeqLM.from_pretrained(params.paths.model).parameters())
    report = {
        "budget_minutes": args.minutes, "test_set": "test_2016_flickr", "test_rows": rows,
        "bleu": summary.metrics["eval_bleu"], "chrf": summary.metrics["eval_chrf"], "beam": params.evaluate.num_beams,
        "bleu_greedy": greedy_bleu, "bleu_beam_rerun": beam_bleu,
        "signature": json.loads((Path(params.paths.metrics) / "sacrebleu.json").read_text()),
        "train_seconds": meta["train_seconds"], "epochs": meta["epochs"], "steps": meta["steps"],
        "train_tokens_per_second": round(tokens_per_epoch * meta["epochs"] / meta["train_seconds"]),
        "generate_sentences_per_second": {"greedy": round(greedy_speed, 1), f"beam{params.evaluate.num_beams}": round(beam_speed, 1)},
        "parameters": parameters, "flow_seconds": round(flow_seconds), "step_seconds": summary.seconds,
        "overrides": overrides[1:], "project": str(root),
    }
    out = results / f"multi30k-{args.minutes:g}m.json"
    out.write_text(json.dumps(report, indent=1))
    print(f"\n{'budget':<8}{'BLEU':>7}{'greedy':>8}{'chrF':>7}{'epochs':>8}{'tok/s':>8}{'sent/s beam':>13}{'params':>11}")
    print(f"{args.minutes:<8g}{report['bleu']:>7.2f}{greedy_bleu:>8.2f}{report['chrf']:>7.2f}{meta['epochs']:>8.2f}"
          f"{report['train_tokens_per_second']:>8}{beam_speed:>13.1f}{parameters:>11,}")
    print(f"JSON: {out}")


if __name__ == "__main__":
    main()

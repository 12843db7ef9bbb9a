"""Each shipped config end to end: `lmforge run` per configs/NAME.yaml, its wall clock, metrics and target.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/configs.py sst2 trec banking77 multi30k squad shakespeare aeslc
        [--minutes M] [--set KEY=VALUE ...]
        [--out bench/results/configs.json] [--dry-run]

Runs one config at a time: two shared cores, and each run's wall clock is part of what is measured.
--dry-run prints the commands and reads whatever outputs earlier runs left.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, print_table, write_result  # noqa: E402

# What each config has to reach: the metric's floor, and the wall clock or training budget it has to reach it in.
TARGETS = {
    "sst2": {"metric": "eval_accuracy", "min": 0.91, "max_wall_s": 30 * 60},
    "trec": {"metric": "eval_accuracy", "min": 0.97},
    "banking77": {"metric": "eval_accuracy", "min": 0.90},
    "multi30k": {"metric": "eval_bleu", "min": 40.0, "max_budget_s": 30 * 60},
    "squad": {"metric": "eval_f1", "min": 60.0, "max_wall_s": 30 * 60},
    # nanoGPT's validation loss is in nats per character: 1.50 nats = 1.50 / ln 2 bits.
    "shakespeare": {"metric": "eval_bits_per_char", "max": round(1.50 / math.log(2), 4), "max_wall_s": 30 * 60},
    # ROUGE-L, and no subject line produced for more than 5 % of the emails.
    "aeslc": {"metric": "eval_rougeL", "min": 20.0, "also": {"eval_top_output_share": 0.05}, "max_wall_s": 30 * 60},
}
# Multi30k's second target: the same config with a 60-minute budget (--minutes 60).
LONGER = {"multi30k": {"metric": "eval_bleu", "min": 41.5, "max_budget_s": 60 * 60}}
METRICS = ("eval_accuracy", "eval_f1_macro", "eval_bleu", "eval_chrf", "eval_exact_match", "eval_f1", "eval_rougeL",
           "eval_val_f1", "eval_val_exact_match", "eval_bits_per_char", "eval_val_bits_per_char", "eval_top_output_share")
META_KEYS = ("steps", "epochs", "train_seconds", "train_samples_per_second", "train_tokens_per_second", "device", "best_metric", "best_by")
# File names inside the paths.* folders of a config (tasks/evaluate.py, tasks/train.py, tasks/validate.py).
EVAL_FILE, META_FILE, RUN_FILE, REPORT_FILE = "eval.json", "lmforge.json", "run.json", "report.json"
TAIL_LINES = 40
COLUMNS = [("config", "config"), ("returncode", "exit"), ("wall_seconds", "wall s"), ("eval_accuracy", "accuracy"),
           ("eval_f1_macro", "F1 macro"), ("eval_bleu", "BLEU"), ("eval_chrf", "chrF"), ("eval_f1", "QA F1"),
           ("eval_rougeL", "ROUGE-L"), ("nats_per_char", "nats/char"), ("eval_top_output_share", "top output"),
           ("steps", "steps"),
           ("epochs", "epochs"), ("train_samples_per_second", "samples/s"), ("dropped_rows", "dropped"),
           ("warnings", "warnings"), ("target_text", "target"), ("met", "met")]


def build_command(name: str, minutes: float | None, sets: list[str]) -> tuple[str, list[str], list[str]]:
    overrides = ([f"train.time_budget_s={minutes * 60:g}"] if minutes else []) + sets
    params = f"configs/{name}.yaml"
    lmforge = str(Path(sys.executable).with_name("lmforge"))
    return params, overrides, [lmforge, "run", "--params", params, "--force", *[p for s in overrides for p in ("--set", s)]]


def run_streaming(command: list[str]) -> dict:
    """Run to the end, echoing its output live (a run takes half an hour) and keeping the last lines."""
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    start = time.perf_counter()
    # Bytes, split on newlines only: text mode would turn each progress-bar redraw (\r) into a line of the tail.
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}) as proc:
        for raw in proc.stdout:
            line = raw.decode(errors="replace")
            sys.stderr.write(line)
            sys.stderr.flush()
            tail.append(line.rstrip("\r\n").rsplit("\r", 1)[-1])
    return {"wall_seconds": time.perf_counter() - start, "returncode": proc.returncode, "output_tail": list(tail)}


def read_json(path: Path, since: float | None) -> tuple[dict, bool | None]:
    """A file's JSON ({} if absent) and whether this run wrote it: an old file from an earlier run must not count."""
    if not path.is_file():
        return {}, False
    return json.loads(path.read_text()), None if since is None else path.stat().st_mtime >= since


def read_outputs(params_file: str, overrides: list[str], since: float | None) -> dict:
    from tasks.core.config import load_params

    params = load_params(REPO / params_file, overrides)
    paths = params.paths
    metrics, fresh_metrics = read_json(REPO / paths.metrics / EVAL_FILE, since)
    meta, fresh_meta = read_json(REPO / paths.model / META_FILE, since)
    meta |= read_json(REPO / paths.model / RUN_FILE, None)[0]  # the training run's figures (seconds, speed)
    report, fresh_report = read_json(REPO / paths.validation / REPORT_FILE, since)
    return {**{key: metrics.get(key) for key in METRICS}, **{key: meta.get(key) for key in META_KEYS},
            "dropped": report.get("dropped"), "dropped_rows": sum((report.get("dropped") or {}).values()) if report else None,
            "warnings": len(report.get("warnings", [])) if report else None, "rows": report.get("rows"),
            "time_budget_s": params.train.time_budget_s,
            "fresh": {"metrics": fresh_metrics, "model_meta": fresh_meta, "validation_report": fresh_report}}


def judge_target(name: str, found: dict) -> dict:
    """Each condition True/False, None where this run cannot tell (a dry run has no wall clock); met needs none False."""
    target, budget = TARGETS.get(name), found.get("time_budget_s")
    if not target:
        return {"met": None, "reason": "no target for this config"}
    if name in LONGER and budget is not None and budget > target["max_budget_s"]:
        target = LONGER[name]
    value, wall = found.get(target["metric"]), found.get("wall_seconds")
    reached = value is not None and (value >= target["min"] if "min" in target else value <= target["max"])
    conditions = {"metric": reached,
                  **{name: found.get(name) is not None and found[name] <= most
                     for name, most in target.get("also", {}).items()},
                  "wall": None if "max_wall_s" not in target or wall is None else wall <= target["max_wall_s"],
                  "budget": None if "max_budget_s" not in target else budget is not None and budget <= target["max_budget_s"],
                  "run_ok": None if "returncode" not in found else found["returncode"] == 0,
                  "fresh": None if found.get("fresh", {}).get("metrics") is None else found["fresh"]["metrics"]}
    return {**target, "value": value, "conditions": conditions, "met": all(c is not False for c in conditions.values())}


def bench_config(name: str, args: argparse.Namespace) -> dict:
    params_file, overrides, command = build_command(name, args.minutes, args.set)
    found: dict = {"config": name, "command": command}
    print(("would run: " if args.dry_run else "running: ") + " ".join(command), file=sys.stderr, flush=True)
    since = None if args.dry_run else time.time()
    if not (REPO / params_file).is_file():
        return {**found, "error": f"{params_file} does not exist", "target": judge_target(name, {})}
    if not args.dry_run:
        try:
            found.update(run_streaming(command))
        except OSError as error:  # a missing lmforge binary should not lose the other configs
            found["error"] = f"{type(error).__name__}: {error}"
        if found.get("returncode"):
            found["error"] = f"lmforge exited {found['returncode']}"
    try:
        found.update(read_outputs(params_file, overrides, since))
    except Exception as error:  # a bad override or an unreadable output: keep the run's record
        found.setdefault("error", f"reading outputs: {type(error).__name__}: {error}")
    found["target"] = judge_target(name, found)
    return found


def describe_target(target: dict) -> str:
    if "metric" not in target:
        return "-"
    limits = [f"wall<={target['max_wall_s'] // 60}m" if "max_wall_s" in target else "",
              f"budget<={target['max_budget_s'] // 60}m" if "max_budget_s" in target else ""]
    bound = f">={target['min']:g}" if "min" in target else f"<={target['max']:g}"
    also = [f"{name.removeprefix('eval_')}<={most:g}" for name, most in target.get("also", {}).items()]
    return " ".join([f"{target['metric'].removeprefix('eval_')}{bound}", *also, *filter(None, limits)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", help="Names of configs/NAME.yaml.")
    parser.add_argument("--minutes", type=float, help="Training budget per run: --set train.time_budget_s=M*60.")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="More `lmforge run --set` overrides.")
    parser.add_argument("--out", default="bench/results/configs.json", help="Result JSON, relative to the repo root.")
    parser.add_argument("--dry-run", action="store_true", help="Print the commands; read the outputs already there.")
    args = parser.parse_args()
    results = [bench_config(name, args) for name in args.configs]
    for row in results:
        row["target_text"], row["met"] = describe_target(row["target"]), row["target"]["met"]
        if row.get("eval_bits_per_char") is not None:  # nanoGPT's unit
            row["nats_per_char"] = round(row["eval_bits_per_char"] * math.log(2), 4)
    out = write_result(REPO / args.out, {"settings": vars(args), "targets": TARGETS, "results": results})
    print_table(f"lmforge run per config{' (dry run: outputs of earlier runs)' if args.dry_run else ''}", results, COLUMNS)
    for row in results:
        if "error" in row:
            print(f"{row['config']}: {row['error']}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""Whether each built-in default trains to the same bits: every params file is rebuilt twice from this commit, in two
fresh git worktrees, with different PYTHONHASHSEEDs and the same thread count, and the tokenizer files, weights
(sha256 of each model file) and test predictions are compared; then the classification default with 1 to 5 threads,
the spread of its macro F1 being what another machine's arithmetic alone can move it by; the classification default
in five fresh worktrees (hash seeds 1 to 5); `dvc repro` of the built-in pipelines in two fresh clones, every
dvc.lock output hash compared.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/determinism.py [--threads 2] [--only defaults,clones,threads,dvc,wall]
        [--repeats 2] [--out bench/results/determinism.json]

wall: `lmforge run --force` of the built-in default (its own registered model, BENCH_MODEL) against `lmforge
reproduce` of the version it registered, each a fresh process, --repeats rounds: the rebuild's wall over the run's.
About 35 min on 2 cores (the five defaults twice, ten classification trainings, two `dvc repro`s, 2 rounds of run and
rebuild).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, make_parser, print_table, read_git, write_result  # noqa: E402

DEFAULTS = ("params.yaml", "params.seq2seq.yaml", "params.summarize.yaml", "params.qa.yaml", "params.causal_lm.yaml")
SPREAD_THREADS = (1, 2, 3, 4, 5)
BENCH_MODEL = "lmforge-reproduce-bench"
REPRO_TARGETS = ("export@reviews", "export@seq2seq")  # what `make repro` runs


def build_once(params_file: str, threads: int, hash_seed: str) -> dict:
    """One rebuild of a params file in a fresh worktree of HEAD: hashes, predictions, metrics, seconds."""
    from tasks.core.config import load_params
    from tasks.rebuild.reproduce import read_outputs
    from tasks.rebuild.worktree import add_worktree, remove_worktree, run_stage

    settings = load_params(REPO / params_file).model_dump(mode="json", by_alias=True)
    scratch = Path(tempfile.mkdtemp(prefix="lmforge-determinism-"))
    source = add_worktree(REPO, read_git("rev-parse", "HEAD"), scratch / "src", params_file)
    try:
        found = run_stage(source, "build", settings, threads=threads, hash_seed=hash_seed, log=scratch / "log")
        return read_outputs(source, settings, found) | {"train_seconds": round(found["seconds"]["train"], 1)}
    finally:
        remove_worktree(REPO, source)
        shutil.rmtree(scratch, ignore_errors=True)


def compare_defaults(threads: int) -> list[dict]:
    from tasks.rebuild.reproduce import compare_runs

    rows = []
    for params_file in DEFAULTS:
        first, second = build_once(params_file, threads, "1"), build_once(params_file, threads, "2")
        difference = ("ingest: data version" if first["data_version"] != second["data_version"]
                      else compare_runs(first, second) or "none")
        weights = next(digest for name, digest in first["files"].items() if name.endswith(".safetensors"))
        rows.append({"params": params_file, "first_difference": difference, "files": len(first["files"]),
                     "weights_sha256": weights[:16], "predictions": len(first["predictions"]),
                     "train_s": first["train_seconds"], "train_s_2": second["train_seconds"]})
        print(rows[-1], flush=True)
    return rows


def spread_over(settings: list[tuple[int, str]]) -> list[dict]:
    """The classification default once per (threads, hash seed), each in a fresh worktree."""
    rows = []
    for threads, seed in settings:
        found = build_once("params.yaml", threads, seed)
        weights = next(digest for name, digest in found["files"].items() if name.endswith(".safetensors"))
        rows.append({"threads": threads, "hash_seed": seed, "f1_macro": found["metrics"]["eval_f1_macro"],
                     "accuracy": found["metrics"]["eval_accuracy"], "weights_sha256": weights[:16],
                     "train_s": found["train_seconds"]})
        print(rows[-1], flush=True)
    return rows


def read_lock_outputs(lock: Path) -> dict[tuple[str, str], str]:
    import yaml

    stages = yaml.safe_load(lock.read_text())["stages"]
    return {(stage, out["path"]): out.get("md5", "") for stage, entry in stages.items() for out in entry.get("outs", [])}


def repro_twice() -> list[dict]:
    """`dvc repro` of what `make repro` runs, in two fresh clones of HEAD with hash seeds 1 and 2 (each its own MLflow
    store and DVC cache): every output hash of the two dvc.lock files side by side."""
    import os
    import subprocess

    locks = []
    for seed in ("1", "2"):
        scratch = Path(tempfile.mkdtemp(prefix="lmforge-repro-"))
        try:
            subprocess.run(["git", "clone", "-q", str(REPO), str(scratch / "src")], check=True)
            env = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
            env |= {"PATH": f"{Path(sys.executable).parent}:{env['PATH']}", "PYTHONHASHSEED": seed}
            subprocess.run(["dvc", "repro", *REPRO_TARGETS], cwd=scratch / "src", env=env, check=True,
                           capture_output=True)
            locks.append(read_lock_outputs(scratch / "src" / "dvc.lock"))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    rows = [{"stage": stage, "output": path, "md5": digest[:12], "same": digest == locks[1].get((stage, path))}
            for (stage, path), digest in sorted(locks[0].items())]
    for row in rows:
        print(row, flush=True)
    return rows


def time_rebuilds(repeats: int) -> list[dict]:
    """Each round: the run, then the rebuild of the version it registered; walls as a user sees them."""
    import json
    import subprocess
    import time

    lmforge, rows = str(Path(sys.executable).with_name("lmforge")), []
    for _ in range(repeats):
        start = time.perf_counter()
        run = subprocess.run([lmforge, "run", "--force", "--json", "--set", f"registry.model_name={BENCH_MODEL}"],
                             cwd=REPO, capture_output=True, text=True, check=True)
        run_s = time.perf_counter() - start
        version = json.loads(run.stdout)["model_version"]
        start = time.perf_counter()
        rebuilt = subprocess.run([lmforge, "reproduce", f"models:/{BENCH_MODEL}/{version}", "--json"], cwd=REPO,
                                 capture_output=True, text=True)
        rebuild_s = time.perf_counter() - start
        verdict = json.loads(rebuilt.stdout)["verdict"] if rebuilt.stdout.strip() else f"failed: {rebuilt.stderr[-200:]}"
        rows.append({"version": version, "run_s": round(run_s, 1), "reproduce_s": round(rebuild_s, 1),
                     "ratio": round(rebuild_s / run_s, 2), "verdict": verdict})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = make_parser(__doc__, "bench/results/determinism.json")
    parser.add_argument("--only", default="defaults,clones,threads,dvc,wall")
    parser.set_defaults(repeats=2)
    args = parser.parse_args()
    from tasks.core.runtime import configure_runtime

    configure_runtime()
    parts = args.only.split(",")
    defaults = compare_defaults(args.threads) if "defaults" in parts else []
    clones = spread_over([(args.threads, str(seed)) for seed in range(1, 6)]) if "clones" in parts else []
    spread = spread_over([(threads, "1") for threads in SPREAD_THREADS]) if "threads" in parts else []
    locks = repro_twice() if "dvc" in parts else []
    walls = time_rebuilds(args.repeats) if "wall" in parts else []

    def spread_of(rows: list[dict]) -> float | None:
        return round(max(row["f1_macro"] for row in rows) - min(row["f1_macro"] for row in rows), 4) if rows else None

    summary = {"identical_defaults": sum(row["first_difference"] == "none" for row in defaults),
               "defaults": len(defaults), "f1_spread_over_5_clones": spread_of(clones),
               "f1_spread_over_threads": spread_of(spread),
               "dvc_lock_outputs_same": f"{sum(row['same'] for row in locks)}/{len(locks)}" if locks else None,
               "reproduce_over_run": max((row["ratio"] for row in walls), default=None)}
    write_result(REPO / args.out, {"threads": args.threads, "defaults": defaults, "clones": clones, "spread": spread,
                                   "dvc_lock": locks, "wall": walls, "summary": summary})
    if defaults:
        print_table(f"Two rebuilds per default, hash seeds 1 and 2, {args.threads} threads", defaults,
                    [("params", "params"), ("first_difference", "first difference"), ("weights_sha256", "weights sha256"),
                     ("predictions", "predictions"), ("train_s", "train s"), ("train_s_2", "train s (2nd)")])
    if clones:
        print_table(f"The classification default in 5 fresh worktrees, hash seeds 1 to 5, {args.threads} threads", clones,
                    [("hash_seed", "hash seed"), ("f1_macro", "macro F1"), ("weights_sha256", "weights sha256"),
                     ("train_s", "train s")])
    if locks:
        print_table("dvc repro in two fresh clones: each dvc.lock output", locks,
                    [("stage", "stage"), ("output", "output"), ("md5", "md5 (1st)"), ("same", "same in 2nd")])
    if spread:
        print_table("The classification default by thread count", spread,
                    [("threads", "threads"), ("f1_macro", "macro F1"), ("accuracy", "accuracy"),
                     ("weights_sha256", "weights sha256"), ("train_s", "train s")])
    if walls:
        print_table("lmforge run --force, then lmforge reproduce of its version", walls,
                    [("version", "version"), ("run_s", "run s"), ("reproduce_s", "reproduce s"), ("ratio", "ratio"),
                     ("verdict", "verdict")])
    print(summary)


if __name__ == "__main__":
    main()

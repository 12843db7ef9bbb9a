"""Data-parallel training on this machine: 1 process with all threads vs N torchrun processes (DDP, gloo) sharing them.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/ddp_speed.py [--steps 300] [--nproc 2] [--repeats 2]
        [--out bench/results/ddp_speed.json]

Both train the built-in reviews default's small BERT from scratch (params.yaml) for the same steps, global batch and
seed, through lmforge's train core (tasks.train.train_model): the same code `lmforge run --set
train.distributed.nproc=N` runs. samples/s is the step loop's (the model's meta); wall seconds include starting the
processes. On one machine DDP only splits the same cores, so it shows the cost of the launcher and of gloo's gradient
all-reduce, not a speed-up: that needs more machines or GPUs (docs/scaling.md).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, add_ratios, collect_medians, list_errors, make_parser, print_table, run_interleaved, write_result  # noqa: E402

COLUMNS = [("approach", "approach"), ("samples_per_s", "samples/s"), ("wall_s", "wall s"), ("train_loss", "train loss"),
           ("samples_per_s_over_1-process", "x 1 process"), ("errors", "errors")]


def prepare(root: Path, steps: int):
    """Ingested, validated and tokenized default data in a scratch project; the settings both approaches share."""
    sys.path.insert(0, str(REPO))
    os.chdir(root)
    from tasks.core.config import load_params
    from tasks.ingest import ingest_dataset
    from tasks.tokenize import tokenize_dataset
    from tasks.validate import validate_dataset

    settings = [f"train.max_steps={steps}", "train.early_stopping_patience=0", "train.resume=false"]
    params = load_params(REPO / "params.yaml", settings)
    ingest_dataset(params)
    validate_dataset(params)
    return settings, tokenize_dataset(params, "bench")


def measure(settings: list[str], tokens, nproc: int, threads: int):
    def run() -> dict:
        from tasks.core.config import load_params
        from tasks.training.checkpoints import read_model_meta
        from tasks.train import train_model

        params = load_params(REPO / "params.yaml", [*settings, f"train.distributed.nproc={nproc}",
                                                    f"train.threads={threads // nproc}", f"paths.model=data/model-{nproc}"])
        start = time.perf_counter()
        model = train_model(params, tokens, show_progress=False)
        meta = read_model_meta(model.path)
        return {"wall_s": time.perf_counter() - start, "samples_per_s": meta["train_samples_per_second"],
                "train_loss": meta["train_loss"], "steps": model.steps, "processes": meta["processes"]}
    return run


def main() -> None:
    parser = make_parser(__doc__, "bench/results/ddp_speed.json")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--nproc", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out = (REPO / args.out).resolve()
    with tempfile.TemporaryDirectory(prefix="lmforge-ddp-bench-") as folder:
        from tasks.core.runtime import configure_runtime

        configure_runtime(folder)
        settings, tokens = prepare(Path(folder), args.steps)
        runs = run_interleaved({"1-process": measure(settings, tokens, 1, args.threads),
                                f"{args.nproc}-processes": measure(settings, tokens, args.nproc, args.threads)},
                               args.repeats)
        os.chdir(REPO)  # out of the scratch project before it is removed
    rows = collect_medians(runs, ["samples_per_s", "wall_s", "train_loss"])
    add_ratios(rows, "samples_per_s", ["1-process"])
    print_table(f"DDP on one machine: {args.steps} steps, global batch 32, {args.threads} threads in all", rows.values(), COLUMNS)
    write_result(out, {"steps": args.steps, "threads": args.threads, "runs": runs, "medians": rows,
                       "errors": list_errors(runs)})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

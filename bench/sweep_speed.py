"""Sweep wall time: `lmforge sweep` with 1 Dask worker vs 2, the same trials, in one scratch clone of the project.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/sweep_speed.py [--trials 4] [--rows 1200] [--epochs 4] [--repeats 1]
        [--out bench/results/sweep_speed.json]

Each run is the whole command (a fresh process: Prefect's temporary API, the Dask cluster, the trials, evaluate,
register, promote). The built-in reviews on the default small BERT; pruning off, so both train the same number of
epochs. With 2 workers each trial gets 1 of the 2 cores, with 1 worker a trial gets both.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, add_ratios, collect_medians, list_errors, make_parser, print_table, run_command, run_interleaved, write_result  # noqa: E402

COLUMNS = [("approach", "approach"), ("wall_seconds", "wall s"), ("wall_seconds_over_1-worker", "x 1 worker"),
           ("errors", "errors")]


def measure(project: Path, workers: int, args) -> callable:
    def run() -> dict:
        settings = [f"data.sample.rows={args.rows}", f"train.epochs={args.epochs}", "train.early_stopping_patience=0",
                    "sweep.pruning=false", f"registry.model_name=sweep-bench-{workers}"]
        command = [sys.executable, "-m", "cli", "sweep", "--trials", str(args.trials), "--workers", str(workers),
                   *[part for setting in settings for part in ("--set", setting)]]
        return run_command(command, keep="trial ", cwd=project)
    return run


def main() -> None:
    parser = make_parser(__doc__, "bench/results/sweep_speed.json")
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--rows", type=int, default=1200)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    out = (REPO / args.out).resolve()
    with tempfile.TemporaryDirectory(prefix="lmforge-sweep-bench-") as folder:
        project = Path(folder) / "project"
        subprocess.run(["git", "clone", "-q", str(REPO), str(project)], check=True)
        runs = run_interleaved({"1-worker": measure(project, 1, args), "2-workers": measure(project, 2, args)},
                               args.repeats)
    rows = collect_medians(runs, ["wall_seconds"])
    add_ratios(rows, "wall_seconds", ["1-worker"])
    print_table(f"lmforge sweep: {args.trials} trials, {args.rows} rows, {args.epochs} epochs", rows.values(), COLUMNS)
    write_result(out, {"trials": args.trials, "rows": args.rows, "epochs": args.epochs, "runs": runs, "medians": rows,
                       "errors": list_errors(runs)})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

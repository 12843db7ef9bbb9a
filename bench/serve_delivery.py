"""Does `lmforge serve` deliver what its model computes? Served requests/s at concurrency 32 against the same model
called directly (no HTTP, no server) on batches of the size the server formed, on the same machine, interleaved.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/serve_delivery.py [--params configs/sst2.yaml] [--backend onnx-int8]
        [--seconds 30] [--repeats 2] [--set KEY=VALUE] [--out bench/results/serve_delivery.json]

Needs the champion of --params with its export (`lmforge run --params configs/sst2.yaml --set train.max_steps=600`).
Each repeat: 32 kept-alive clients, one short SST-2 dev sentence a request, for --seconds (requests/s, p50, p95,
errors); the server's own /metrics then give the rows per model call it formed, /ping the share of the time its
model was busy and how fast it ran while busy; then the model alone (the serving
code's own predictor, loaded in this process while the server idles) on batches of that size from the same
sentences, for as long. The ratio is served requests/s over the model's rows/s.
"""

from __future__ import annotations

import statistics
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, make_parser, print_table, write_result  # noqa: E402
from serve_batching import concurrent, start  # noqa: E402


def batch_rows(port: int) -> tuple[float, float]:
    """(rows, model calls) so far, from the server's lmforge_batch_size_rows histogram."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    found = {sample.name: sample.value for family in text_string_to_metric_families(text) for sample in family.samples
             if sample.name.startswith("lmforge_batch_size_rows_")}
    return found.get("lmforge_batch_size_rows_sum", 0.0), found.get("lmforge_batch_size_rows_count", 0.0)


def model_seconds(port: int) -> float:
    """Seconds the server's champion has spent inside its model so far (/ping's batching.model_s)."""
    import json

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=10) as response:
        return (json.loads(response.read())["batching"] or {}).get("model_s", 0.0)


def model_alone(predict, texts: list[str], size: int, seconds: float) -> float:
    """Rows per second of `predict` on consecutive batches of `size` texts, for `seconds`."""
    rows, n, started = 0, 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        batch = [texts[(n + i) % len(texts)] for i in range(size)]
        predict(batch)
        rows, n = rows + size, n + size
    return rows / (time.perf_counter() - started)


def load_predictor(params_path: str, backend: str, overrides: list[str]):
    sys.path.insert(0, str(REPO))
    from tasks.core.config import load_params
    from tasks.registry import tracking
    from tasks.serve import load_served

    params = load_params(REPO / params_path, [*overrides, f"serve.backend={backend}", "serve.metrics.enabled=false"])
    client = tracking.client(params)
    version = client.get_model_version_by_alias(params.registry.model_name, params.registry.champion_alias)
    return load_served(params, version)


def main() -> None:
    import pandas as pd

    parser = make_parser(__doc__, "bench/results/serve_delivery.json")
    parser.add_argument("--params", default="configs/sst2.yaml")
    parser.add_argument("--backend", default="onnx-int8")
    parser.add_argument("--data", default=str(REPO.parent / "shared/datasets/sst2/dev.csv"))
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--set", action="append", default=[], help="A params override for the server.")
    args = parser.parse_args()
    texts = [t for t in pd.read_csv(args.data)["text"].astype(str) if len(t.split()) <= 12]
    server, port = start(args.set, args.backend, params=args.params)
    served = load_predictor(args.params, args.backend, args.set)
    runs = []
    try:
        concurrent(port, texts, 5, args.clients)  # warm-up of the server's threads and sessions
        model_alone(served.direct, texts, 16, 3)
        for repeat in range(args.repeats):
            (rows_before, calls_before), busy_before = batch_rows(port), model_seconds(port)
            found = concurrent(port, texts, args.seconds, args.clients)
            (rows_after, calls_after), busy = batch_rows(port), model_seconds(port) - busy_before
            size = (rows_after - rows_before) / max(1.0, calls_after - calls_before)
            alone = model_alone(served.direct, texts, max(1, round(size)), args.seconds)
            at = f"c{args.clients}"
            runs.append({"served_requests_per_s": found[f"{at}_requests_per_s"], "p50_ms": found[f"{at}_p50_ms"],
                         "p95_ms": found[f"{at}_p95_ms"], "errors": found[f"{at}_errors"], "rows_per_call": size,
                         "model_busy_share": busy / args.seconds,
                         "model_rows_per_busy_s": (rows_after - rows_before) / max(busy, 1e-9),
                         "model_alone_rows_per_s": alone, "ratio": found[f"{at}_requests_per_s"] / alone})
            print(repeat + 1, {k: round(v, 2) for k, v in runs[-1].items()}, flush=True)
    finally:
        server.terminate()
        server.wait(timeout=60)
        served.close()
    row = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    print_table(f"lmforge serve at concurrency {args.clients} vs the model alone ({args.backend}), medians of "
                f"{args.repeats}", [row], [(key, key) for key in row])
    print(f"written to {write_result(REPO / args.out, {'settings': vars(args), 'runs': runs, 'summary': row})}")


if __name__ == "__main__":
    main()

"""Does `lmforge serve` deliver what its model computes? Served requests/s at concurrency 32 against the same model
called directly (no HTTP, no server) on batches of the size the server formed, on the same machine, interleaved.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/serve_delivery.py [--params configs/sst2.yaml] [--backend onnx-int8]
        [--seconds 30] [--repeats 2] [--client python --client wrk] [--set KEY=VALUE]
        [--out bench/results/serve_delivery.json]

Needs the champion of --params with its export (`lmforge run --params configs/sst2.yaml --set train.max_steps=600`).
The server runs with its defaults, its inference log on (written to a temporary folder under bench/results).
Each repeat, for each --client in turn: 32 kept-alive clients, one short SST-2 dev sentence a request, for --seconds
(requests/s, p50, p95, errors), from Python threads in this process (`python`) or from wrk (`wrk`, a C load
generator: its own CPU is not taken from the server's 2 cores, as callers on other machines take none); the server's
own /metrics then give the rows per model call it formed, /ping the share of the time its model was busy (summed
over serve.batch.workers) and how fast it ran while busy. Then the model alone (the serving code's own predictor,
loaded in this process while the server idles, called by as many threads as the server's serve.batch.workers) on
batches of that size from the same sentences, for as long. The ratio is served requests/s over the model's rows/s in
the same repeat, whose order alternates (served first, then the model alone first) so that a machine that speeds up
or slows down within the run favours neither side; the table gives the median ratio and the lowest and highest.
`--set serve.batch.workers=2` compares two calls at once on both sides.
"""

from __future__ import annotations

import gc
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, make_parser, print_table, run_clients, write_result  # noqa: E402
from serve_batching import concurrent, start  # noqa: E402
from wrk_client import wrk_concurrent  # noqa: E402

CLIENTS = {"python": concurrent, "wrk": wrk_concurrent}


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


def model_alone(predict, texts: list[str], size: int, seconds: float, workers: int = 1) -> float:
    """Rows per second of `predict` on consecutive batches of `size` texts, for `seconds`, called by `workers`
    threads at once (as the server's serve.batch.workers call it)."""
    found: list[float] = []

    def call(offset: int) -> None:
        rows, n, started = 0, offset, time.perf_counter()
        while time.perf_counter() - started < seconds:
            predict([texts[(n + i) % len(texts)] for i in range(size)])
            rows, n = rows + size, n + size
        found.append(rows / (time.perf_counter() - started))

    run_clients(lambda worker: call(worker * 997), workers)
    return sum(found)


def load_predictor(params_path: str, backend: str, overrides: list[str]):
    sys.path.insert(0, str(REPO))
    from tasks.core.config import load_params
    from tasks.registry import tracking
    from tasks.serve import load_served

    params = load_params(REPO / params_path, [*overrides, f"serve.backend={backend}", "serve.metrics.enabled=false"])
    client = tracking.client(params)
    version = client.get_model_version_by_alias(params.registry.model_name, params.registry.champion_alias)
    return load_served(params, version), params.serve.batch.workers


def main() -> None:
    import pandas as pd

    parser = make_parser(__doc__, "bench/results/serve_delivery.json")
    parser.add_argument("--params", default="configs/sst2.yaml")
    parser.add_argument("--backend", default="onnx-int8")
    parser.add_argument("--data", default=str(REPO.parent / "shared/datasets/sst2/dev.csv"))
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--client", action="append", choices=sorted(CLIENTS), help="Who sends (default: python).")
    parser.add_argument("--set", action="append", default=[], help="A params override for the server.")
    args = parser.parse_args()
    args.client = args.client or ["python"]
    texts = [t for t in pd.read_csv(args.data)["text"].astype(str) if len(t.split()) <= 12]
    (REPO / "bench/results").mkdir(parents=True, exist_ok=True)  # inside the project, as paths must be; ignored by git
    log = tempfile.TemporaryDirectory(prefix="delivery-log-", dir=REPO / "bench/results")
    server, port = start([f"paths.inference_log={log.name}", "monitor.log=true", *args.set], args.backend,
                         params=args.params)
    served, workers = load_predictor(args.params, args.backend, args.set)
    # The model's objects out of the collector's way: else each of the Python clients' collections walks them, and
    # that CPU (taken from the server on the same cores) grew with the model loaded here, not with the server.
    gc.collect()
    gc.freeze()
    runs = []
    try:
        # Warm-up of the server's threads and sessions; the batch size it formed, for a repeat with the model first.
        size = max(1, round(concurrent(port, texts, 5, args.clients)["rows_per_call"]))
        model_alone(served.direct, texts, size, 3)
        for repeat in range(args.repeats):
            alone_first = repeat % 2 == 1  # on batches of the size the server formed in the repeat before
            if alone_first:
                alone = model_alone(served.direct, texts, size, args.seconds, workers)
            found = {client: measure_served(port, texts, args, client) for client in args.client}
            size = max(1, round(statistics.mean(run["rows_per_call"] for run in found.values())))
            if not alone_first:
                alone = model_alone(served.direct, texts, size, args.seconds, workers)
            for client, run in found.items():
                runs.append({"client": client, **run, "model_alone_rows_per_s": alone,
                             "ratio": run["served_requests_per_s"] / alone})
                print(repeat + 1, {k: v if isinstance(v, str) else round(v, 2) for k, v in runs[-1].items()},
                      flush=True)
    finally:
        server.terminate()
        server.wait(timeout=60)
        served.close()
        log.cleanup()
    rows = [{"client": client, **{key: statistics.median(run[key] for run in runs if run["client"] == client)
                                  for key in runs[0] if key != "client"},
             "lowest": min(run["ratio"] for run in runs if run["client"] == client),
             "highest": max(run["ratio"] for run in runs if run["client"] == client)} for client in args.client]
    print_table(f"lmforge serve at concurrency {args.clients} vs the model alone ({args.backend}), medians of "
                f"{args.repeats}", rows, [(key, key) for key in rows[0]])
    print(f"written to {write_result(REPO / args.out, {'settings': vars(args), 'runs': runs, 'summary': rows})}")


def measure_served(port: int, texts: list[str], args, client: str) -> dict:
    """One run of `client`'s callers against the server, with what the server says of its model meanwhile."""
    (rows_before, calls_before), busy_before = batch_rows(port), model_seconds(port)
    found = CLIENTS[client](port, texts, args.seconds, args.clients)
    (rows_after, calls_after), busy = batch_rows(port), model_seconds(port) - busy_before
    at = f"c{args.clients}"
    return {"served_requests_per_s": found[f"{at}_requests_per_s"], "p50_ms": found[f"{at}_p50_ms"],
            "p95_ms": found[f"{at}_p95_ms"], "errors": found[f"{at}_errors"],
            "rows_per_call": (rows_after - rows_before) / max(1.0, calls_after - calls_before),
            "model_busy_share": busy / args.seconds,
            "model_rows_per_busy_s": (rows_after - rows_before) / max(busy, 1e-9)}


if __name__ == "__main__":
    main()

"""What /metrics costs `lmforge serve`: two servers of one champion side by side, serve.metrics.enabled on and off,
at concurrency 1 and 8.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/serve_metrics.py [--params params.yaml] [--repeats 3]
        [--requests 500] [--seconds 20] [--out bench/results/serve_metrics.json]

Needs a champion of --params (`make run`). In each repeat, in alternating order: one request at a time (--requests:
p50, p95), then 8 kept-alive clients for --seconds (requests/s, p50, p95); the metrics server is scraped every second
meanwhile (a Prometheus scraping every 15 s costs less). Ratios of on against off per repeat, then their medians.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, make_parser, print_table, write_result  # noqa: E402
from serve_batching import concurrent, one_at_a_time, start  # noqa: E402

TEXTS = ["the screen is not bad at all", "battery died after two days", "works as described", "too loud",
         "i would buy it again", "the lens cap broke the first week"]


def scraping(port: int, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            response.read()


def measure(port: int, args, scraped: bool) -> dict:
    stop = threading.Event()
    if scraped:
        threading.Thread(target=scraping, args=(port, stop), daemon=True).start()
    try:
        return one_at_a_time(port, TEXTS, args.requests) | concurrent(port, TEXTS, args.seconds, clients=8)
    finally:
        stop.set()


def main() -> None:
    parser = make_parser(__doc__, "bench/results/serve_metrics.json")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    servers = {"metrics off": start(["serve.metrics.enabled=false"], params=args.params),
               "metrics on": start(["serve.metrics.enabled=true"], params=args.params)}
    runs: dict[str, list[dict]] = {name: [] for name in servers}
    try:
        for repeat in range(args.repeats):
            for name in (list(servers) if repeat % 2 == 0 else list(servers)[::-1]):
                runs[name].append(measure(servers[name][1], args, name == "metrics on"))
                print(repeat + 1, name, {k: round(v, 2) for k, v in runs[name][-1].items()}, flush=True)
            time.sleep(1)
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait(timeout=60)
    keys = ("c1_requests_per_s", "c1_p50_ms", "c1_p95_ms", "c8_requests_per_s", "c8_p50_ms", "c8_p95_ms", "c1_errors", "c8_errors")
    rows = [{"server": name, **{key: statistics.median(r[key] for r in found) for key in keys}}
            for name, found in runs.items()]
    off, on = runs["metrics off"], runs["metrics on"]
    rows[1]["c1_p50_delta_ms"] = statistics.median(b["c1_p50_ms"] - a["c1_p50_ms"] for a, b in zip(off, on))
    rows[1]["c8_p50_delta_ms"] = statistics.median(b["c8_p50_ms"] - a["c8_p50_ms"] for a, b in zip(off, on))
    rows[1]["c8_ratio"] = statistics.median(b["c8_requests_per_s"] / a["c8_requests_per_s"] for a, b in zip(off, on))
    rows[1]["c1_ratio"] = statistics.median(b["c1_requests_per_s"] / a["c1_requests_per_s"] for a, b in zip(off, on))
    print_table(f"lmforge serve, /metrics on vs off, medians of {args.repeats} interleaved repeats", rows,
                [("server", "server"), *((key, key) for key in keys[:6]), ("c1_p50_delta_ms", "c1 +p50 ms"),
                 ("c8_p50_delta_ms", "c8 +p50 ms"), ("c1_ratio", "c1 x off"), ("c8_ratio", "c8 x off")])
    print(f"written to {write_result(REPO / args.out, {'settings': vars(args), 'runs': runs, 'summary': rows})}")


if __name__ == "__main__":
    main()

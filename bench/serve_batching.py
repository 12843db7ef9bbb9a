"""`lmforge serve` under load, one request per model call against adaptive micro-batching (serve.batch), side by side.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/serve_batching.py [--repeats 2] [--seconds 60] [--requests 300]
        [--set registry.model_name=NAME] [--out bench/results/serve_batching.json]

Needs the SST-2 champion (`lmforge run --params configs/sst2.yaml`) and its ONNX export. Two servers of it on
127.0.0.1 at once: serve.batch.max_size 1 on the ONNX backend (every request its own model call, the server before
batching) and the default batching, on the ONNX backend or each --batched-backend (e.g. onnx-int8). In each repeat,
in alternating order: one short SST-2 dev sentence at a time (--requests of them: p50/p95), then 32 concurrent clients
for --seconds (requests/s, p95, errors); ratios against the first server. Extra settings for the batched servers
only: --batched-set serve.workers=2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, make_parser, print_table, run_clients, write_result  # noqa: E402
from serve_speed import PARAMS, percentile, post  # noqa: E402
from shadow_canary import free_port  # noqa: E402


def start(settings: list[str], backend: str = "onnx", params: str = PARAMS) -> tuple[subprocess.Popen, int]:
    port = free_port()
    lmforge = str(Path(sys.executable).with_name("lmforge"))
    server = subprocess.Popen([lmforge, "serve", "--params", params, "--port", str(port), "--backend", backend,
                               "--set", "monitor.log=false", *(part for s in settings for part in ("--set", s))],
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "HF_HUB_OFFLINE": "1"})
    for _ in range(480):
        if post(port, ["fine"])[1] == 200:
            return server, port
        if server.poll() is not None:
            raise SystemExit(f"lmforge serve exited {server.returncode}")
        time.sleep(0.5)
    raise SystemExit("lmforge serve did not answer in 240 s")


def one_at_a_time(port: int, texts: list[str], requests: int) -> dict:
    started = time.perf_counter()
    times = [post(port, [texts[n % len(texts)]]) for n in range(requests)]
    wall = time.perf_counter() - started
    ok = [seconds for seconds, status in times if status == 200]
    return {"c1_p50_ms": 1000 * percentile(ok, 0.5), "c1_p95_ms": 1000 * percentile(ok, 0.95),
            "c1_requests_per_s": len(ok) / wall, "c1_errors": len(times) - len(ok)}


def keep_alive_post(connection, texts: list[str]) -> tuple[float, int]:
    """One request on a client's own kept-alive connection (as HTTP clients under load do)."""
    import http.client

    started = time.perf_counter()
    try:
        connection.request("POST", "/invocations", json.dumps({"inputs": texts}),
                           {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return time.perf_counter() - started, response.status
    except (OSError, http.client.HTTPException):
        connection.close()
        return time.perf_counter() - started, 0


def concurrent(port: int, texts: list[str], seconds: float, clients: int = 32) -> dict:
    import http.client

    results: list[tuple[float, int]] = []
    deadline = time.perf_counter() + seconds

    def client(offset: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        n = offset
        while time.perf_counter() < deadline:
            results.append(keep_alive_post(connection, [texts[n % len(texts)]]))
            n += clients
        connection.close()

    wall = run_clients(client, clients)
    ok = [seconds for seconds, status in results if status == 200]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=10) as response:
        batching = json.loads(response.read())["batching"] or {}
    at = f"c{clients}"
    return {"rows_per_call": batching.get("rows_per_call", 1.0), f"{at}_requests_per_s": len(ok) / wall,
            f"{at}_p50_ms": 1000 * percentile(ok, 0.5), f"{at}_p95_ms": 1000 * percentile(ok, 0.95),
            f"{at}_errors": len(results) - len(ok)}


def main() -> None:
    import pandas as pd

    parser = make_parser(__doc__, "bench/results/serve_batching.json")
    parser.add_argument("--data", default=str(REPO.parent / "shared/datasets/sst2/dev.csv"))
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--set", action="append", default=[], help="A params override for both servers.")
    parser.add_argument("--batched-set", action="append", default=[], help="An override for the batched ones only.")
    parser.add_argument("--batched-backend", action="append", help="A backend for a batched server (default onnx).")
    args = parser.parse_args()
    frame = pd.read_csv(args.data)
    texts = [t for t in frame["text"].astype(str) if len(t.split()) <= 12]  # short sentences, as the target says
    servers = {"one call per request (onnx)": start([*args.set, "serve.batch.max_size=1"])} | {
        f"micro-batching ({backend})": start([*args.set, *args.batched_set], backend)
        for backend in args.batched_backend or ["onnx"]}
    runs: dict[str, list[dict]] = {name: [] for name in servers}
    try:
        for repeat in range(args.repeats):
            for name in (list(servers) if repeat % 2 == 0 else list(servers)[::-1]):
                port = servers[name][1]
                runs[name].append(one_at_a_time(port, texts, args.requests) | concurrent(port, texts, args.seconds))
                print(name, {k: round(v, 2) for k, v in runs[name][-1].items()}, flush=True)
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait(timeout=60)
    keys = list(runs[list(servers)[-1]][0])
    rows = [{"server": name, **{key: round(sorted(r[key] for r in found)[len(found) // 2], 2) for key in keys}}
            for name, found in runs.items()]
    for row in rows[1:]:
        row["c32_ratio"] = round(row["c32_requests_per_s"] / rows[0]["c32_requests_per_s"], 2)
        row["c1_p50_delta_ms"] = round(row["c1_p50_ms"] - rows[0]["c1_p50_ms"], 2)
    print_table(f"lmforge serve, SST-2 short sentences, medians of {args.repeats}", rows,
                [(key, key) for key in ("server", *keys, "c32_ratio", "c1_p50_delta_ms")])
    write_result(REPO / args.out, {"settings": vars(args), "runs": runs, "summary": rows})


if __name__ == "__main__":
    main()

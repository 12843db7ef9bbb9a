"""What the inference log costs and how fast the monitor reads it, on the SST-2 champion (configs/sst2.yaml).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/monitor_speed.py [--repeats 2] [--seconds 60] [--rows 100000]
        [--only overhead,kill,monitor] [--out bench/results/monitor_speed.json]

overhead: `lmforge serve` (ONNX) with monitor.log true and false, interleaved, each 8 concurrent clients of one short
  request for --seconds (requests/s, p50, p95) after a one-at-a-time warm-up; ratios logged/unlogged.
kill: the server with its log on under the same load for 5 s, then kill -9: how many answered requests never reached
  the log, how old the oldest of them was at the kill, and whether the log still reads.
monitor: --rows logged answers of the champion (SST-2 train texts, its own answers) written as the server writes
  them, then `lmforge monitor --json` over them, timed as a user runs it (process start, Prefect API, MLflow run).
Needs `lmforge run --params configs/sst2.yaml` (a champion, exported).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, make_parser, print_table, run_interleaved, write_result  # noqa: E402
from serve_speed import SHORT, percentile  # noqa: E402

PARAMS = "configs/sst2.yaml"
LMFORGE = str(Path(sys.executable).with_name("lmforge"))


def start_server(*overrides: str) -> tuple[subprocess.Popen, int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([LMFORGE, "serve", "--params", PARAMS, "--port", str(port), "--backend", "onnx",
                               *[part for value in overrides for part in ("--set", value)]], cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(240):
        if call(port, [SHORT])[1] == 200:
            return server, port
        if server.poll() is not None:
            raise SystemExit(f"lmforge serve exited {server.returncode}")
        time.sleep(0.5)
    raise SystemExit("lmforge serve did not answer in 120 s")


def call(port: int, texts: list[str]) -> tuple[float, int, dict]:
    """(seconds, status, answer) of one request."""
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=json.dumps({"inputs": texts}).encode(),
                                     headers={"Content-Type": "application/json"})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return time.perf_counter() - start, response.status, json.loads(response.read())
    except Exception:  # noqa: BLE001 - counted as an error
        return time.perf_counter() - start, 0, {}


def load(port: int, seconds: float, clients: int = 8, stop: threading.Event | None = None) -> list[tuple]:
    """(seconds, status, request ids, wall time answered) of each request of `clients` concurrent clients."""
    results: list[tuple] = []
    deadline = time.perf_counter() + seconds

    def client():
        while time.perf_counter() < deadline and not (stop and stop.is_set()):
            took, status, answer = call(port, [SHORT])
            results.append((took, status, answer.get("request_ids", []), time.time()))

    workers = [threading.Thread(target=client) for _ in range(clients)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


def measure_overhead(log: bool, seconds: float) -> dict:
    folder = REPO / "data/bench-inference-overhead"
    server, port = start_server(f"monitor.log={str(log).lower()}", f"paths.inference_log={folder.relative_to(REPO)}")
    try:
        for _ in range(50):
            call(port, [SHORT])
        single = [call(port, [SHORT])[0] for _ in range(200)]
        start = time.perf_counter()
        results = load(port, seconds)
        wall = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)
    ok = [took for took, status, *_ in results if status == 200]
    return {"c8_requests_per_s": len(results) / wall, "c8_p50_ms": 1000 * percentile(ok, 0.5),
            "c8_p95_ms": 1000 * percentile(ok, 0.95), "c8_errors": len(results) - len(ok),
            "c1_p50_ms": 1000 * percentile(single, 0.5)}


def measure_kill() -> dict:
    from tasks.data.inference_log import read_log

    folder = REPO / "data/bench-inference-kill"
    shutil.rmtree(folder, ignore_errors=True)
    server, port = start_server(f"paths.inference_log={folder.relative_to(REPO)}")
    stop = threading.Event()
    answered: list[tuple] = []
    loader = threading.Thread(target=lambda: answered.extend(load(port, 30, stop=stop)))
    loader.start()
    time.sleep(5)
    killed_at = time.time()
    server.send_signal(signal.SIGKILL)
    server.wait()
    stop.set()
    loader.join()
    ids = {request_id: when for _, status, request_ids, when in answered if status == 200 for request_id in request_ids
           if when <= killed_at}
    try:
        logged, readable = set(read_log(folder)["request_id"]), True
    except Exception:  # noqa: BLE001 - the finding itself
        logged, readable = set(), False
    lost = {request_id: when for request_id, when in ids.items() if request_id not in logged}
    leftovers = [path.name for path in folder.glob(".*")]
    shutil.rmtree(folder, ignore_errors=True)
    return {"answered": len(ids), "logged": len(logged & set(ids)), "lost": len(lost),
            "oldest_lost_s": round(killed_at - min(lost.values()), 3) if lost else 0.0, "log_readable": readable,
            "temporaries_left": len(leftovers)}


def measure_monitor(rows: int) -> dict:
    """`rows` logged answers of the champion, then `lmforge monitor --json` over them."""
    import pandas as pd

    from tasks.core.config import load_params
    from tasks.core.runtime import configure_runtime
    from tasks.data.inference_log import InferenceLog, make_rows, new_request_ids
    from tasks.monitor import find_champion
    from tasks.predict import predict_texts

    configure_runtime(REPO)
    folder = REPO / "data/bench-inference-100k"
    shutil.rmtree(folder, ignore_errors=True)
    params = load_params(REPO / PARAMS, [f"paths.inference_log={folder.relative_to(REPO)}"])
    version = find_champion(params)
    pool = pd.read_csv(REPO.parent / "shared/datasets/sst2/train.csv")["text"].astype(str).sample(2000, random_state=1)
    texts = pool.tolist()
    answers = [{"label": label, "score": score} for label, score in
               predict_texts(params, f"models:/{version.name}/{version.version}", texts)]
    context = {"source": "serve", "model_name": version.name, "model_version": str(version.version),
               "alias": "champion", "backend": "onnx"}
    log = InferenceLog(folder, params.monitor.model_copy(update={"queue_rows": rows + 1}))
    for start in range(0, rows, len(texts)):
        count = min(len(texts), rows - start)
        log.record(make_rows(texts[:count], answers[:count], new_request_ids(count), context, 5.0, "text"))
    status = log.close()
    started = time.perf_counter()
    done = subprocess.run([LMFORGE, "monitor", "--json", "--params", PARAMS, "--set",
                           f"paths.inference_log={folder.relative_to(REPO)}"], cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - started
    shutil.rmtree(folder, ignore_errors=True)
    if done.returncode not in (0, 3):  # 3: the monitor found drift, an answer
        return {"error": done.stderr[-2000:]}
    report = json.loads(done.stdout)
    return {"rows_logged": status["written"], "rows_in_window": report["rows"], "wall_s": round(wall, 1),
            "sample_rows": params.monitor.sample_rows, "drift": report["drift"],
            "p_values": {name: test["p_value"] for name, test in report["tests"].items()}}


def main() -> None:
    parser = make_parser(__doc__, "bench/results/monitor_speed.json")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--only", default="overhead,kill,monitor")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(REPO))
    parts, found = args.only.split(","), {}
    if "overhead" in parts:
        runs = run_interleaved({"log on": lambda: measure_overhead(True, args.seconds),
                                "log off": lambda: measure_overhead(False, args.seconds)}, args.repeats)
        rows = []
        for name, measured in runs.items():
            keys = measured[0].keys()
            rows.append({"approach": name, **{key: statistics.median(run[key] for run in measured) for key in keys
                                             if isinstance(measured[0][key], (int, float))}})
        on, off = rows
        found["overhead"] = {"runs": runs, "summary": rows,
                             "throughput_ratio": on["c8_requests_per_s"] / off["c8_requests_per_s"],
                             "c8_p50_delta_ms": on["c8_p50_ms"] - off["c8_p50_ms"],
                             "c1_p50_delta_ms": on["c1_p50_ms"] - off["c1_p50_ms"]}
        print_table(f"lmforge serve (onnx), 8 clients, {args.seconds:g} s, medians of {args.repeats} interleaved", rows,
                    [("approach", "log"), ("c8_requests_per_s", "req/s"), ("c8_p50_ms", "p50 ms"),
                     ("c8_p95_ms", "p95 ms"), ("c8_errors", "errors"), ("c1_p50_ms", "c1 p50 ms")])
        print(f"throughput log on / off: {found['overhead']['throughput_ratio']:.3f}; p50 delta "
              f"{found['overhead']['c8_p50_delta_ms']:+.2f} ms (c1: {found['overhead']['c1_p50_delta_ms']:+.2f} ms)")
    if "kill" in parts:
        found["kill"] = measure_kill()
        print("kill -9 under load:", json.dumps(found["kill"]))
    if "monitor" in parts:
        found["monitor"] = measure_monitor(args.rows)
        print(f"lmforge monitor over {args.rows} logged rows:", json.dumps(found["monitor"]))
    out = write_result(REPO / args.out, {"settings": vars(args), **found})
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()

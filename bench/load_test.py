"""Bounded load test of `lmforge serve`: 16 clients for 10 minutes with a hot swap of the champion in the middle.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/load_test.py [--seconds 600] [--clients 16] [--workers 1]
        [--project DIR] [--out bench/results/load_test.json]

Without --project it clones HEAD into a temporary folder and builds two versions there with the default pipeline:
the champion (version 1) and a 40-step version 2 the gate rejects, exported with `lmforge export 2` so that both
answer on ONNX. First each version's answer to every pool text (the project's test split) is read from a server
pinned to it (--model). Then one server follows @champion on 127.0.0.1 while --clients kept-alive clients
send one to three pool texts a request for --seconds; halfway, `lmforge promote 2`. Checked: errors (a status other
than 200, or a broken connection); each answer's rows against the rows of the version it names (same labels,
probabilities within 1e-4) and of the other version; the versions over time (when 2 first answered, how many
answers of 1 finished after that); the server's memory (the RSS of its processes, every 5 s), growth from the end of
the first minute to the end; the inference log's rows against the answers. Stops by itself; kills what it started.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import make_parser, print_table, write_result  # noqa: E402
import shadow_canary  # noqa: E402
from shadow_canary import LMFORGE, environment, free_port, open_project, stop  # noqa: E402

TOLERANCE = 1e-4  # batched and lone answers of one ONNX model differ by float rounding only


def build_project(folder: Path) -> Path:
    """A clone of HEAD with an exported champion (1) and an exported, rejected version 2."""
    return shadow_canary.build_project(folder, (["run"], shadow_canary.CHALLENGER, ["export", "2"]))


def start_server(project: Path, *options: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    server = subprocess.Popen([LMFORGE, "serve", "--port", str(port), "--backend", "onnx", *options], cwd=project,
                              env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(240):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/ping")
            if connection.getresponse().status == 200:
                return server, port
        except OSError:
            if server.poll() is not None:
                raise SystemExit(f"lmforge serve exited {server.returncode}") from None
        time.sleep(0.5)
    raise SystemExit("lmforge serve did not answer in 120 s")


def ask(connection: http.client.HTTPConnection, texts: list[str]) -> tuple[int, dict]:
    connection.request("POST", "/invocations", json.dumps({"inputs": texts}), {"Content-Type": "application/json"})
    response = connection.getresponse()
    body = response.read()
    return response.status, json.loads(body) if response.status == 200 else {}


def read_answers(project: Path, version: str, texts: list[str]) -> dict[str, tuple[str, float]]:
    """What a version answers for each text alone, from a server pinned to it."""
    server, port = start_server(project, "--model", version)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        found = {}
        for text in texts:
            status, body = ask(connection, [text])
            row = body["predictions"][0]
            found[text] = (row["label"], row["score"])
        return found
    finally:
        stop(server)


def matches(rows: list[dict], texts: list[str], expected: dict) -> bool:
    return len(rows) == len(texts) and all(
        row["label"] == expected[text][0] and abs(row["score"] - expected[text][1]) <= TOLERANCE
        for row, text in zip(rows, texts))


def read_rss_kb(pid: int) -> int:
    """Resident memory of a process and all its descendants (a several-worker server's supervisor and workers)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0
    own = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return own + sum(read_rss_kb(int(child)) for child in children)


def load(port: int, texts: list[str], expected: dict, seconds: float, clients: int, swap) -> list[dict]:
    """Clients until the deadline; `swap` runs once at half time. One record per request."""
    records: list[dict] = []
    started = time.perf_counter()
    deadline = started + seconds

    def client(offset: int) -> None:
        connection, n = http.client.HTTPConnection("127.0.0.1", port, timeout=30), offset
        while time.perf_counter() < deadline:
            chosen = [texts[(n + k * 7) % len(texts)] for k in range(1 + n % 3)]
            sent = time.perf_counter() - started
            try:
                status, body = ask(connection, chosen)
            except (OSError, http.client.HTTPException, ValueError):
                connection.close()
                status, body = 0, {}
            version = body.get("model_version")
            rows = body.get("predictions", [])
            records.append({"sent": sent, "done": time.perf_counter() - started, "status": status,
                            "version": version, "rows": len(chosen),
                            "own": version in expected and matches(rows, chosen, expected[version]),
                            "other": any(matches(rows, chosen, answers) for v, answers in expected.items()
                                         if v != version)})
            n += clients
        connection.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(seconds / 2)
    swap(time.perf_counter() - started)
    for thread in threads:
        thread.join(timeout=seconds + 120)
    return records


def sample_memory(pid: int, every: float, samples: list, stopped: threading.Event, started: float) -> None:
    while not stopped.wait(every):
        samples.append((round(time.perf_counter() - started, 1), read_rss_kb(pid)))


def summarize(records: list[dict], swapped_at: float, memory: list[tuple[float, int]], logged: dict) -> dict:
    ok = [r for r in records if r["status"] == 200]
    first_new = min((r["done"] for r in ok if r["version"] == "2"), default=None)
    latencies = sorted(1000 * (r["done"] - r["sent"]) for r in ok)
    baseline = next((rss for at, rss in memory if at >= 60), memory[0][1] if memory else 0)
    end = memory[-1][1] if memory else 0
    return {"requests": len(records), "answered": len(ok), "errors": len(records) - len(ok),
            "requests_per_s": round(len(records) / max(r["done"] for r in records), 1),
            "p50_ms": round(latencies[len(latencies) // 2], 2), "p95_ms": round(latencies[int(0.95 * len(latencies))], 2),
            "answers_by_version": {v: sum(r["version"] == v for r in ok) for v in sorted({r["version"] for r in ok})},
            "answers_matching_their_version": sum(r["own"] for r in ok),
            "answers_not_matching_their_version": sum(not r["own"] for r in ok),
            "answers_matching_the_other_version_too": sum(r["own"] and r["other"] for r in ok),
            "swap_at_s": round(swapped_at, 1), "first_answer_of_2_at_s": first_new and round(first_new, 1),
            "answers_of_1_sent_after_swap_seen": sum(r["version"] == "1" and first_new is not None and
                                                     r["sent"] > first_new for r in ok),
            "answers_of_2_sent_before_swap": sum(r["version"] == "2" and r["sent"] < swapped_at for r in ok),
            "rss_mb_at_60s": round(baseline / 1024, 1), "rss_mb_end": round(end / 1024, 1),
            "rss_mb_max": round(max((rss for _, rss in memory), default=0) / 1024, 1),
            "rss_growth_pct": round(100 * (end / baseline - 1), 2) if baseline else None,
            "logged_rows": logged, "answered_rows": sum(r["rows"] for r in ok)}


def count_logged(folder: Path) -> dict:
    import pandas as pd

    segments = sorted(folder.rglob("*.parquet"))
    if not segments:
        return {}
    frame = pd.concat([pd.read_parquet(segment, columns=["model_version"]) for segment in segments])
    return {str(version): int(count) for version, count in frame["model_version"].value_counts().items()}


def main() -> None:
    import shutil

    import pandas as pd

    from tasks.core.config import load_params

    parser = make_parser(__doc__, "bench/results/load_test.json")
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--project", type=Path, help="A project whose @champion is version 1 and which has a version 2.")
    args = parser.parse_args()
    with open_project(args.project, "lmforge-load-test-", build_project) as project:
        params = load_params(project / "params.yaml")
        texts = pd.read_parquet(project / params.paths.dataset / "test.parquet")["text"].astype(str)
        texts = list(dict.fromkeys(texts))[:300]
        expected = {version: read_answers(project, version, texts) for version in ("1", "2")}
        differ = sum(expected["1"][t][0] != expected["2"][t][0] or
                     abs(expected["1"][t][1] - expected["2"][t][1]) > TOLERANCE for t in texts)
        print(f"{len(texts)} pool texts; the two versions answer {differ} of them differently", flush=True)
        log = project / params.paths.inference_log
        shutil.rmtree(log, ignore_errors=True)  # the pinned servers' rows: only the load's stay
        server, port = start_server(project, "--workers", str(args.workers))
        memory, stopped, swap = [], threading.Event(), {}
        started = time.perf_counter()
        threading.Thread(target=sample_memory, args=(server.pid, 5, memory, stopped, started), daemon=True).start()

        def promote(at: float) -> None:
            done = subprocess.run([LMFORGE, "promote", "2", "--reason", "load test: hot swap"], cwd=project,
                                  env=environment(), capture_output=True, text=True)
            swap.update(at=at, returncode=done.returncode, seconds=round(time.perf_counter() - started - at, 1))

        try:
            records = load(port, texts, expected, args.seconds, args.clients, promote)
        finally:
            stopped.set()
            stop(server)
        summary = summarize(records, swap["at"], memory, count_logged(log))
        summary |= {"promote_returncode": swap["returncode"], "promote_s": swap["seconds"], "pool_texts": len(texts),
                    "pool_texts_answered_differently": differ}
        print_table(f"lmforge serve, {args.clients} clients, {args.seconds:.0f} s, {args.workers} worker(s), "
                    "promote 2 at half time", [{"what": key, "value": value} for key, value in summary.items()],
                    [("what", "what"), ("value", "value")])
        write_result(Path(__file__).resolve().parent.parent / args.out,
                     {"settings": {k: str(v) for k, v in vars(args).items()}, "summary": summary, "memory": memory})


if __name__ == "__main__":
    main()

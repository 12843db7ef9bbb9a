"""What bearer tokens cost `lmforge serve`: two servers of the default champion side by side, one open and one with
serve.auth.required=always, one request at a time to each in turn.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/serve_auth.py [--requests 500] [--repeats 3]
        [--out bench/results/serve_auth.json]

Needs `make run` (a champion of params.yaml). Both servers run at once and are asked alternately (open, token, open,
token...), so a slow patch of the machine hits both; p50 and p95 of each, and the difference of the p50s per round.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, make_parser, post_texts, print_table, write_result  # noqa: E402

TEXT = "the screen is not bad at all"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(port: int, token: str | None) -> tuple[float, int]:
    return post_texts(port, [TEXT], {"Authorization": f"Bearer {token}"} if token else None)


def start(port: int, extra: list[str], env: dict) -> subprocess.Popen:
    lmforge = str(Path(sys.executable).with_name("lmforge"))
    return subprocess.Popen([lmforge, "serve", "--port", str(port), "--set", "monitor.log=false", *extra], cwd=REPO,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = make_parser(__doc__, "bench/results/serve_auth.json")
    parser.add_argument("--requests", type=int, default=500, help="Requests to each server per round.")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from tasks.servers.auth import add_token

    store = Path(tempfile.mkdtemp(prefix="serve-auth-")) / "tokens.yaml"
    token = add_token(store, "bench", [])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "LMFORGE_SERVE_TOKENS": store.read_text()}
    sides = {"open": (free_port(), [], None),
             "token": (free_port(), ["--set", "serve.auth.required=always"], token)}
    servers = [start(port, extra, env) for port, extra, _ in sides.values()]
    try:
        for port, _, key in sides.values():
            for _ in range(240):
                if post(port, key)[1] == 200:
                    break
                time.sleep(0.5)
        rounds = []
        for repeat in range(args.repeats):
            times = {name: [] for name in sides}
            for _ in range(20):  # warm-up
                for name, (port, _, key) in sides.items():
                    post(port, key)
            for _ in range(args.requests):
                for name, (port, _, key) in sides.items():
                    seconds, status = post(port, key)
                    times[name].append(seconds if status == 200 else None)
            rounds.append({name: {"p50_ms": 1000 * statistics.median([t for t in found if t is not None]),
                                  "p95_ms": 1000 * sorted(t for t in found if t is not None)[int(0.95 * len(found))],
                                  "errors": sum(t is None for t in found)} for name, found in times.items()})
            print(f"[{repeat + 1}/{args.repeats}] open p50 {rounds[-1]['open']['p50_ms']:.2f} ms, token p50 "
                  f"{rounds[-1]['token']['p50_ms']:.2f} ms", file=sys.stderr, flush=True)
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
    rows = [{"approach": name, **{key: statistics.median(r[name][key] for r in rounds) for key in
                                  ("p50_ms", "p95_ms", "errors")}} for name in sides]
    overhead = [r["token"]["p50_ms"] - r["open"]["p50_ms"] for r in rounds]
    rows[1]["p50_overhead_ms"] = statistics.median(overhead)
    rows[1]["p50_ratio"] = rows[1]["p50_ms"] / rows[0]["p50_ms"]
    path = write_result(REPO / args.out, {"requests_per_round": args.requests, "rounds": rounds, "rows": rows,
                                          "p50_overhead_ms_per_round": overhead})
    print_table("lmforge serve, concurrency 1: open vs bearer token", rows,
                [("approach", "server"), ("p50_ms", "p50 ms"), ("p95_ms", "p95 ms"), ("p50_overhead_ms", "+p50 ms"),
                 ("p50_ratio", "x open"), ("errors", "errors")])
    print(f"written to {path}")


if __name__ == "__main__":
    main()

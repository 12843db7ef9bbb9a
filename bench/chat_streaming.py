"""Streamed chat answers at concurrency 8: continuous batching against one answer at a time, side by side.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/chat_streaming.py [--params params.chat.yaml] [--clients 8]
        [--requests 12] [--repeats 2] [--max-tokens 64] [--out bench/results/chat_streaming.json]

Needs the chat champion (`lmforge run --params params.chat.yaml`). Two servers of it on 127.0.0.1 at once:
serve.batch.max_size 1 (one answer written at a time: the others wait for it) and the default (up to
serve.batch.max_size answers advance together). In each repeat, in alternating order, --clients clients each send
--requests streamed /v1/chat/completions requests one after another through the official openai client (built-in
instructions whose answers are several tokens: reversing and sorting words), greedy, max_tokens --max-tokens. Per
server: time to first token (p50, p95), tokens/s per stream (an answer's tokens over its time after its first token),
aggregate tokens/s (all answers' tokens over the wall clock), and the batched server's ratio to the other.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, make_parser, print_table, run_clients, write_result  # noqa: E402
from serve_speed import percentile  # noqa: E402
from shadow_canary import free_port  # noqa: E402


def start(params: str, settings: list[str]) -> tuple[subprocess.Popen, int]:
    port = free_port()
    lmforge = str(Path(sys.executable).with_name("lmforge"))
    server = subprocess.Popen([lmforge, "serve", "--params", params, "--port", str(port), "--set", "monitor.log=false",
                               *(part for s in settings for part in ("--set", s))],
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "HF_HUB_OFFLINE": "1"})
    for _ in range(480):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5) as response:
                if response.status == 200:
                    return server, port
        except OSError:
            pass
        if server.poll() is not None:
            raise SystemExit(f"lmforge serve exited {server.returncode}")
        time.sleep(0.5)
    raise SystemExit("lmforge serve did not answer in 240 s")


def make_prompts(count: int) -> list[str]:
    from tasks.kinds.chat.builtin import reverse_words, sort_words

    rng = random.Random(7)
    return [(reverse_words if n % 2 else sort_words)(rng)[0] for n in range(count)]


def stream_once(client, prompt: str, max_tokens: int) -> dict:
    started = time.perf_counter()
    first, tokens = None, 0
    for chunk in client.chat.completions.create(model="champion", messages=[{"role": "user", "content": prompt}],
                                                max_tokens=max_tokens, temperature=0, stream=True,
                                                stream_options={"include_usage": True}):
        if chunk.choices and chunk.choices[0].delta.content and first is None:
            first = time.perf_counter()
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
    ended = time.perf_counter()
    first = first or ended
    return {"ttft_s": first - started, "tokens": tokens, "stream_tokens_per_s": tokens / max(ended - first, 1e-6)
            if tokens > 1 else None}


def measure(port: int, prompts: list[str], clients: int, requests: int, max_tokens: int) -> dict:
    from openai import OpenAI

    found: list[dict] = []

    def client(offset: int) -> None:
        talk = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0, timeout=120)
        for n in range(requests):
            found.append(stream_once(talk, prompts[(offset * requests + n) % len(prompts)], max_tokens))

    wall = run_clients(client, clients)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=10) as response:
        generation = json.loads(response.read())["generation"] or {}
    rates = [row["stream_tokens_per_s"] for row in found if row["stream_tokens_per_s"]]
    return {"ttft_p50_ms": 1000 * percentile([row["ttft_s"] for row in found], 0.5),
            "ttft_p95_ms": 1000 * percentile([row["ttft_s"] for row in found], 0.95),
            "stream_tokens_per_s": percentile(rates, 0.5) if rates else 0.0,
            "tokens_per_s": sum(row["tokens"] for row in found) / wall, "answers": len(found),
            "mean_tokens": sum(row["tokens"] for row in found) / len(found),
            "rows_per_step": generation.get("rows_per_step", 0.0)}


def main() -> None:
    parser = make_parser(__doc__, "bench/results/chat_streaming.json")
    parser.add_argument("--params", default="params.chat.yaml")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=12, help="Requests per client, one after another.")
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    prompts = make_prompts(args.clients * args.requests)
    servers = {"one answer at a time": start(args.params, ["serve.batch.max_size=1"]),
               "continuous batching": start(args.params, [])}
    runs: dict[str, list[dict]] = {name: [] for name in servers}
    try:
        for repeat in range(args.repeats):
            for name in (list(servers) if repeat % 2 == 0 else list(servers)[::-1]):
                runs[name].append(measure(servers[name][1], prompts, args.clients, args.requests, args.max_tokens))
                print(name, {k: round(v, 2) for k, v in runs[name][-1].items()}, flush=True)
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait(timeout=60)
    keys = list(runs["continuous batching"][0])
    rows = [{"server": name, **{key: round(sorted(r[key] for r in found)[len(found) // 2], 2) for key in keys}}
            for name, found in runs.items()]
    rows[1]["tokens_per_s_ratio"] = round(rows[1]["tokens_per_s"] / rows[0]["tokens_per_s"], 2)
    rows[1]["ttft_p50_ratio"] = round(rows[1]["ttft_p50_ms"] / rows[0]["ttft_p50_ms"], 2)
    print_table(f"streamed chat answers, {args.clients} clients, medians of {args.repeats}", rows,
                [(key, key) for key in ("server", *keys, "tokens_per_s_ratio", "ttft_p50_ratio")])
    write_result(REPO / args.out, {"settings": vars(args), "runs": runs, "summary": rows})


if __name__ == "__main__":
    main()

"""Shadow and canary on `lmforge serve`: what a shadow costs the champion's answers, and the canary's real share.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/shadow_canary.py [--blocks 12] [--block-requests 100]
        [--canary-requests 10000] [--project DIR] [--out bench/results/shadow_canary.json]

Without --project it clones HEAD into a temporary folder and runs the default pipeline there twice: a champion,
then a 40-step challenger the gate rejects (promote.min_improvement 1), so that @challenger is another version. Then,
on 127.0.0.1: two servers of the same champion (onnx), shadow off and shadow on, and one short request at a time in
blocks that alternate between them (interleaved, so that both see the same machine): p50/p95 per server and the
difference. Then one server with serve.canary.share 0.1: --canary-requests requests each with a new key (the share
measured) and 200 keys sent 5 times each (stickiness: the share of keys that always got the same version).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, make_parser, print_table, write_result  # noqa: E402

SHORT = "the battery lasts all day and the screen is sharp"
LMFORGE = str(Path(sys.executable).with_name("lmforge"))


CHALLENGER = ["run", "--set", "train.max_steps=40", "--set", "promote.min_improvement=1"]


def build_project(folder: Path, commands: tuple[list[str], ...] = (["run"], CHALLENGER)) -> Path:
    """A clone of HEAD in `folder` and lmforge commands run there: by default a champion and a rejected challenger."""
    source = folder / "src"
    subprocess.run(["git", "clone", "-q", str(REPO), str(source)], check=True)
    for command in commands:
        started = time.perf_counter()
        subprocess.run([LMFORGE, *command], cwd=source, env=environment(), check=True, capture_output=True)
        print(f"lmforge {' '.join(command)}: {time.perf_counter() - started:.0f} s", flush=True)
    return source


@contextlib.contextmanager
def open_project(given: Path | None, prefix: str, build=build_project):
    """The project a bench was given, or one built in a temporary folder that is deleted afterwards."""
    if given:
        yield given.resolve()
        return
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield build(scratch).resolve()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def environment() -> dict:
    env = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    return env | {"HF_HUB_OFFLINE": "1", "PATH": f"{Path(sys.executable).parent}:{env['PATH']}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(port: int, key: str | None = None) -> tuple[float, dict]:
    headers = {"Content-Type": "application/json", **({"X-Canary-Key": key} if key else {})}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", headers=headers,
                                     data=json.dumps({"inputs": [SHORT]}).encode())
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    return 1000 * (time.perf_counter() - started), body


def start_server(project: Path, *settings: str) -> tuple[subprocess.Popen, int]:
    """A server that has loaded its challenger (or has none to load) and answers."""
    port = free_port()
    server = subprocess.Popen([LMFORGE, "serve", "--port", str(port), "--set", "serve.refresh_s=1",
                               *(part for value in settings for part in ("--set", value))], cwd=project,
                              env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(240):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5) as response:
                ping = json.loads(response.read())
            if not settings or (ping["challenger"] or {}).get("version"):
                return server, port
        except OSError:
            if server.poll() is not None:
                raise SystemExit(f"lmforge serve exited {server.returncode}") from None
        time.sleep(0.5)
    raise SystemExit("lmforge serve did not load its challenger in 120 s")


def stop(server: subprocess.Popen) -> None:
    """A server asked to stop; killed if it has not within a minute."""
    server.terminate()
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure_shadow(project: Path, blocks: int, block_requests: int) -> list[dict]:
    servers = {"shadow off": start_server(project), "shadow on": start_server(project, "serve.shadow=true")}
    try:
        times: dict[str, list[float]] = {name: [] for name in servers}
        for name, (_, port) in servers.items():  # warm-up
            for _ in range(30):
                post(port)
        for block in range(blocks):
            for name in (list(servers) if block % 2 == 0 else list(servers)[::-1]):
                port = servers[name][1]
                times[name] += [post(port)[0] for _ in range(block_requests)]
        rows = [{"server": name, "requests": len(values), "p50_ms": round(percentile(values, 0.5), 3),
                 "p95_ms": round(percentile(values, 0.95), 3)} for name, values in times.items()]
        rows[1]["p50_over_off_ms"] = round(rows[1]["p50_ms"] - rows[0]["p50_ms"], 3)
        time.sleep(2)  # the shadow's last requests
        with urllib.request.urlopen(f"http://127.0.0.1:{servers['shadow on'][1]}/ping", timeout=5) as response:
            challenger = json.loads(response.read())["challenger"]
        rows[1] |= {"challenger": f"version {challenger['version']} ({challenger['backend']})",
                    "shadow_scored": challenger["shadow"]["scored"], "shadow_skipped": challenger["shadow"]["skipped"]}
        return rows
    finally:
        for server, _ in servers.values():
            stop(server)


def measure_canary(project: Path, requests: int, share: float = 0.1) -> dict:
    server, port = start_server(project, f"serve.canary.share={share}", "serve.canary.min_requests=100000")
    try:
        canary = sum(post(port, uuid.uuid4().hex)[1]["route"] == "canary" for _ in range(requests))
        keys = [f"caller-{n}" for n in range(200)]
        seen = {key: {post(port, key)[1]["model_version"] for _ in range(5)} for key in keys}
        return {"share_set": share, "requests": requests, "share_measured": round(canary / requests, 4),
                "keys": len(keys), "sticky_share": sum(len(versions) == 1 for versions in seen.values()) / len(keys)}
    finally:
        stop(server)


def main() -> None:
    parser = make_parser(__doc__, "bench/results/shadow_canary.json")
    parser.add_argument("--blocks", type=int, default=12)
    parser.add_argument("--block-requests", type=int, default=100)
    parser.add_argument("--canary-requests", type=int, default=10_000)
    parser.add_argument("--project", type=Path, help="A project with a @champion and another @challenger.")
    args = parser.parse_args()
    with open_project(args.project, "lmforge-shadow-bench-") as project:
        shadow = measure_shadow(project, args.blocks, args.block_requests)
        print_table("champion latency, one request at a time, interleaved blocks", shadow,
                    [("server", "server"), ("requests", "requests"), ("p50_ms", "p50 ms"), ("p95_ms", "p95 ms"),
                     ("p50_over_off_ms", "p50 - off"), ("challenger", "shadow"), ("shadow_scored", "scored"),
                     ("shadow_skipped", "skipped")])
        canary = measure_canary(project, args.canary_requests)
        print_table("canary", [canary], [(key, key) for key in canary])
        write_result(args.out, {"shadow": shadow, "canary": canary, "blocks": args.blocks,
                                "block_requests": args.block_requests})

if __name__ == "__main__":
    main()

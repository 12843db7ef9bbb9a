"""What every bench script shares: timing, interleaved repeats, a result file that says where it came from, a table."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def read_git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()


def make_parser(doc: str, out: str) -> argparse.ArgumentParser:
    """The flags every bench script shares: its docstring as help, --threads, --repeats, --out."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads.")
    parser.add_argument("--repeats", type=int, default=3, help="Rounds of the interleaved measurements.")
    parser.add_argument("--out", default=out, help="Result JSON, relative to the repo root.")
    return parser


def git_commit() -> str:
    return read_git("rev-parse", "--short", "HEAD") or "unknown"


def describe_machine() -> dict:
    import torch

    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").is_file() else []
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), platform.processor())
    return {"nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "cpu_count": os.cpu_count(), "cpu": cpu, "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "cuda": torch.cuda.is_available(), "python": platform.python_version(),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


def write_result(path: str | Path, payload: dict) -> Path:
    """The payload under the date, commit, exact command and machine, so a number can be traced back and rerun."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    header = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "commit": git_commit(),
              # Tracked files that differ from the commit: the numbers may not be that commit's.
              "dirty_files": read_git("status", "--porcelain", "--untracked-files=no").splitlines(),
              "command": shlex.join(sys.orig_argv), "cwd": os.getcwd(), "machine": describe_machine()}
    out.write_text(json.dumps({**header, **payload}, indent=1, default=str) + "\n")
    return out


def run_command(command: list[str], env: dict | None = None, keep: str | None = None, cwd: Path = REPO) -> dict:
    """Run a command in the repo root (or `cwd`) to its end: its wall seconds, the output lines that contain `keep`,
    and, if it failed, an error with its output's tail."""
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
    found = {"command": command, "wall_seconds": time.perf_counter() - start, "returncode": proc.returncode}
    if keep:
        found["kept"] = [line.strip() for line in (proc.stdout + proc.stderr).splitlines() if keep in line]
    if proc.returncode:
        found.update(error=f"{Path(command[0]).name} exited {proc.returncode}", output_tail=(proc.stdout + proc.stderr)[-3000:])
    return found


def run_clients(client: Callable[[int], object], clients: int) -> float:
    """`clients` threads of `client(i)` at once, until each returns: the wall clock seconds they took together."""
    import threading

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def median_time(fn: Callable[[], object], repeats: int = 10, warmup: int = 3) -> tuple[float, list[float]]:
    """Median wall seconds of fn() after warm-up runs, and every timed run."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def run_interleaved(measures: dict[str, Callable[[], dict]], repeats: int) -> dict[str, list[dict]]:
    """A, B, C, A, B, C...: a slow patch of a shared machine then hits every approach, and shows as spread in each."""
    results: dict[str, list[dict]] = {name: [] for name in measures}
    for repeat in range(repeats):
        for index, (name, measure) in enumerate(measures.items()):
            print(f"[{repeat + 1}/{repeats}] {name} ...", file=sys.stderr, flush=True)
            started = datetime.now(timezone.utc).isoformat(timespec="seconds")
            try:
                result = measure()
            except Exception as error:  # one broken approach should not lose the others' numbers
                result = {"error": f"{type(error).__name__}: {error}"}
            results[name].append({"repeat": repeat, "order": repeat * len(measures) + index, "started": started, **result})
    return results


def compute_median(runs: Sequence[dict], key: str) -> float | None:
    values = [run[key] for run in runs if isinstance(run.get(key), (int, float))]
    return statistics.median(values) if values else None


def collect_medians(runs: dict[str, list[dict]], keys: Sequence[str]) -> dict[str, dict]:
    """Per name: the median of each key over its repeats, and how many repeats failed."""
    return {name: {"approach": name, "errors": sum("error" in run for run in items),
                   **{key: compute_median(items, key) for key in keys}} for name, items in runs.items()}


def add_ratios(rows: dict[str, dict], key: str, references: Sequence[str]) -> None:
    """row[f"{key}_over_{reference}"] for every row and reference, None where either side is missing."""
    for row in rows.values():
        for reference in references:
            base = rows.get(reference, {}).get(key)
            row[f"{key}_over_{reference}"] = row[key] / base if row.get(key) and base else None


def list_errors(runs: dict[str, list[dict]]) -> list[str]:
    return sorted({f"{name}: {run['error']}" for name, items in runs.items() for run in items if "error" in run})


def count_parameters(model) -> dict:
    """A Hugging Face model's parameters, without its embeddings: lookups, not matmuls, so no training FLOPs."""
    embedding = sum(p.numel() for p in model.base_model.embeddings.parameters())
    total = sum(p.numel() for p in model.parameters())
    return {"total": total, "embedding": embedding, "non_embedding": total - embedding}


def measure_matmul(n: int, device: str = "cpu") -> dict:
    """Achieved FLOP/s of one n x n float32 matmul: the ceiling a training's FLOP/s is read against."""
    import torch

    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    seconds, times = median_time(lambda: (torch.matmul(a, b), sync()), repeats=10, warmup=3)
    return {"n": n, "seconds": seconds, "times": times, "flops": 2 * n**3 / seconds}


def format_cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 10 else f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.1f}"
    return str(value)


def print_table(title: str, rows: Sequence[dict], columns: Sequence[tuple[str, str]]) -> None:
    """One row per dict; columns are (key, header) pairs; a missing key prints as '-'."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for i, (_, header) in enumerate(columns):
        table.add_column(header, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(format_cell(row.get(key)) for key, _ in columns))
    Console(width=max(120, len(columns) * 13)).print(table)


def post_texts(port: int, texts: list[str], headers: dict | None = None) -> tuple[float, int]:
    """One /invocations request to `lmforge serve` on 127.0.0.1: (seconds, HTTP status; 0 for no answer)."""
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=json.dumps({"inputs": texts}).encode(),
                                     headers={"Content-Type": "application/json", **(headers or {})})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            return time.perf_counter() - start, response.status
    except Exception:  # noqa: BLE001 - counted as an error
        return time.perf_counter() - start, 0

"""Deployment speed of the fine-tuned SST-2 model: each backend on SST-2 dev, then `lmforge serve` under load.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/serve_speed.py [--repeats 3] [--threads 2] [--seconds 60]
        [--requests 200] [--out bench/results/serve_speed.json]

Needs `lmforge run --params configs/sst2.yaml` (a champion) and its exports (the flow writes them for a new champion;
else `lmforge export --params configs/sst2.yaml`). Backends, interleaved: eager PyTorch with every text padded to 128
(the seed's way), eager in length-sorted batches (evaluate's way), ONNX, int8 ONNX and the torch.export program, all
through tasks/registry/backends.py; sentences/s and dev accuracy. Then one `lmforge serve` (ONNX backend) on 127.0.0.1: one
short request at a time (--requests of them: p50/p95), and 8 concurrent clients for --seconds (bounded), errors counted.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (REPO, add_ratios, collect_medians, make_parser, post_texts as post, print_table,  # noqa: E402
                    run_interleaved, write_result)

PARAMS = "configs/sst2.yaml"
BACKENDS = ("eager-padded128", "eager", "onnx", "onnx-int8", "torch-export")
COLUMNS = [("approach", "backend"), ("sentences_per_s", "sentences/s"), ("sentences_per_s_over_eager-padded128", "x padded128"),
           ("accuracy", "dev accuracy"), ("errors", "errors")]
SHORT = "a gripping , funny and moving film ."


def fetch_champion(overrides: list[str]) -> tuple[str, Path, Path]:
    """The champion's version, its model folder and its export folder, from the registry: the local folders may hold
    another version (another bench's run, or a rejected challenger)."""
    import tempfile

    from tasks.registry import tracking
    from tasks.core.config import load_params
    from tasks.export import fetch_model
    from tasks.core.runtime import configure_runtime

    configure_runtime(REPO)
    params = load_params(REPO / PARAMS, overrides)
    client = tracking.client(params)
    version = client.get_model_version_by_alias(params.registry.model_name, params.registry.champion_alias)
    model = fetch_model(params, str(version.version), version.run_id)
    exports = Path(client.download_artifacts(version.run_id, "export", tempfile.mkdtemp(prefix="serve-bench-")))
    return str(version.version), model, exports


def measure_backend(backend: str, texts: list[str], labels: list[int], model: Path, exports: Path) -> dict:
    import numpy as np

    from tasks.registry.backends import TextScorer

    folder = model if backend.startswith("eager") else exports
    scorer = TextScorer(folder, "eager" if backend.startswith("eager") else backend)
    if backend == "eager-padded128":  # every text padded to 128, batches in file order
        call = lambda: np.concatenate([pad_call(scorer, texts[i:i + 128]) for i in range(0, len(texts), 128)])
    else:
        call = lambda: scorer(texts)
    start = time.perf_counter()
    logits = call()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "sentences_per_s": len(texts) / seconds,
            "accuracy": float(np.mean(logits.argmax(-1) == np.array(labels)))}


def pad_call(scorer, texts: list[str]):
    import numpy as np

    batch = scorer.tokenizer(texts, truncation=True, max_length=128, padding="max_length", return_tensors="np")
    return scorer.logits({"input_ids": batch["input_ids"].astype(np.int64),
                          "attention_mask": batch["attention_mask"].astype(np.int64)})


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def measure_serving(args) -> dict:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    lmforge = str(Path(sys.executable).with_name("lmforge"))
    server = subprocess.Popen([lmforge, "serve", "--params", PARAMS, "--port", str(port), "--backend", "onnx",
                               *[part for value in args.set for part in ("--set", value)]], cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        for _ in range(240):
            if post(port, [SHORT])[1] == 200:
                break
            if server.poll() is not None:
                return {"error": f"lmforge serve exited {server.returncode}"}
            time.sleep(0.5)
        for _ in range(20):  # warm-up
            post(port, [SHORT])
        single = [post(port, [SHORT]) for _ in range(args.requests)]
        latencies = [seconds for seconds, status in single if status == 200]
        found = {"c1_requests": len(single), "c1_errors": sum(status != 200 for _, status in single),
                 "c1_p50_ms": 1000 * percentile(latencies, 0.5), "c1_p95_ms": 1000 * percentile(latencies, 0.95)}
        results, deadline = [], time.perf_counter() + args.seconds

        def client():
            while time.perf_counter() < deadline and len(results) < 100_000:
                results.append(post(port, [SHORT]))

        start = time.perf_counter()
        workers = [threading.Thread(target=client) for _ in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        wall = time.perf_counter() - start
        ok = [seconds for seconds, status in results if status == 200]
        return {**found, "c8_requests": len(results), "c8_errors": len(results) - len(ok),
                "c8_requests_per_s": len(results) / wall, "c8_p50_ms": 1000 * percentile(ok, 0.5),
                "c8_p95_ms": 1000 * percentile(ok, 0.95)}
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = make_parser(__doc__, "bench/results/serve_speed.json")
    parser.add_argument("--data", default=str(REPO.parent / "shared/datasets/sst2/dev.csv"))
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--set", action="append", default=[], help="A params override for the champion and the "
                        "server, e.g. registry.model_name=NAME (repeatable).")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(REPO))
    import pandas as pd
    import torch

    torch.set_num_threads(args.threads)
    version, model, exports = fetch_champion(args.set)
    if not (exports / "parity.json").is_file():
        sys.exit(f"version {version} has no exports; run `lmforge export {version} --params {PARAMS}`.")
    frame = pd.read_csv(args.data)
    texts, labels = frame["text"].astype(str).tolist(), frame["label"].astype(int).tolist()
    runs = run_interleaved({name: (lambda name=name: measure_backend(name, texts, labels, model, exports)) for name in BACKENDS}, args.repeats)
    rows = collect_medians(runs, ("sentences_per_s", "accuracy"))
    add_ratios(rows, "sentences_per_s", ["eager-padded128"])
    serving = measure_serving(args)
    out = write_result(REPO / args.out, {"settings": vars(args), "champion_version": version, "runs": runs,
                                         "summary": list(rows.values()), "serving": serving,
                                         "parity": json.loads((exports / "parity.json").read_text())})
    print_table(f"SST-2 dev ({len(texts)} sentences), champion version {version}, {args.threads} threads, medians of "
                f"{args.repeats}",
                list(rows.values()), COLUMNS)
    print("lmforge serve (onnx):", json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in serving.items()}))
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()

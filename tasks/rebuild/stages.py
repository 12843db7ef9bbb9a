"""The rebuild's stages, run by the recorded commit's own code: `python -m tasks.rebuild.stages` in a worktree of
that commit. `ingest` makes the dataset from the source; `model` validates, tokenizes, trains and evaluates from the
dataset it finds. Each writes the hashes of what it made as JSON, for the caller (today's code) to compare."""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path


def hash_folder(folder: str | Path, pattern: str = "*") -> dict[str, str]:
    """sha256 of each file under `folder` matching `pattern`, by path relative to it."""
    root = Path(folder)
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob(pattern)) if path.is_file()}


def run_ingest(params) -> dict:
    from tasks.ingest import ingest_dataset

    return {"rows": ingest_dataset(params), "params_hash": params.section_hash()}


def run_model(params, data_version: str, replay: dict | None) -> dict:
    """validate, tokenize, train, evaluate as the flow does, without tracking: seconds and hashes per stage."""
    from tasks.evaluate import evaluate_model
    from tasks.tokenize import tokenize_dataset
    from tasks.train import train_model
    from tasks.validate import validate_dataset

    seconds, start = {}, time.perf_counter()
    report = validate_dataset(params)
    if not report.success:
        return {"failed": "validate", "detail": "; ".join(report.checks)}
    seconds["validate"], start = time.perf_counter() - start, time.perf_counter()
    tokens = tokenize_dataset(params, data_version)
    seconds["tokenize"], start = time.perf_counter() - start, time.perf_counter()
    model = train_model(params, tokens, show_progress=False, replay=replay)
    seconds["train"], start = time.perf_counter() - start, time.perf_counter()
    evaluation = evaluate_model(params, model.path, show_progress=False)
    seconds["evaluate"] = time.perf_counter() - start
    return {"seconds": seconds, "steps": model.steps, "metrics": evaluation.metrics,
            "tokenizer": hash_folder(tokens.path, "tokenizer.json"), "weights": hash_folder(model.path, "*.safetensors")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stage", choices=["ingest", "model"])
    parser.add_argument("params", help="the recorded params as JSON")
    parser.add_argument("out", help="where the result JSON goes")
    parser.add_argument("--data-version", default="")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: the recorded params' setting)")
    parser.add_argument("--replay", default="", help="the recorded time budget as JSON, replayed by steps")
    args = parser.parse_args(argv)

    from tasks.core.runtime import configure_runtime

    configure_runtime()
    from tasks.core.config import Params

    params = Params.model_validate(json.loads(Path(args.params).read_text()))
    if args.threads:
        params.train.threads = args.threads
    replay = json.loads(args.replay) if args.replay else None
    result = run_ingest(params) if args.stage == "ingest" else run_model(params, args.data_version, replay)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

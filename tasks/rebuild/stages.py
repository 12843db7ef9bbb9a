"""The rebuild's stages, run by the recorded commit's own code: `python -m tasks.rebuild.stages` in a worktree of
that commit. `build` ingests from the source and, when that gives the expected data version, goes on; `model`
validates, tokenizes, trains and evaluates from the dataset it finds. The result (data version, metrics, steps, the
environment it ran in) goes to a JSON file for the caller, today's code, to compare."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def run_model(params, data_version: str, replay: dict | None) -> dict:
    """validate, tokenize, train, evaluate as the flow does, without tracking; seconds per stage."""
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
    return {"seconds": seconds, "steps": model.steps, "metrics": evaluation.metrics}


def run_build(params, expected: str, replay: dict | None) -> dict:
    """ingest, then the model stages when the data is the expected version (else the caller restores it first);
    with no expected version, on whatever ingest gave."""
    from tasks.ingest import ingest_dataset
    from tasks.rebuild.data import compute_data_version

    ingest_dataset(params)
    found = {"params_hash": params.section_hash(), "data_version": compute_data_version(params.paths.dataset)}
    if expected and found["data_version"] != expected:
        return found
    return found | run_model(params, found["data_version"], replay)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stage", choices=["build", "model"])
    parser.add_argument("params", help="the recorded params as JSON")
    parser.add_argument("out", help="where the result JSON goes")
    parser.add_argument("--data-version", default="", help="the recorded data version")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: the recorded params' setting)")
    parser.add_argument("--replay", default="", help="the recorded time budget as JSON, replayed by steps")
    args = parser.parse_args(argv)

    from tasks.core.runtime import configure_runtime

    configure_runtime()
    from tasks.core.config import Params
    from tasks.training.environment import describe_environment

    params = Params.model_validate(json.loads(Path(args.params).read_text()))
    if args.threads:
        params.train.threads = args.threads
    replay = json.loads(args.replay) if args.replay else None
    build = run_build if args.stage == "build" else run_model
    result = build(params, args.data_version, replay)
    Path(args.out).write_text(json.dumps(result | {"environment": describe_environment()}, indent=1))


if __name__ == "__main__":
    main()

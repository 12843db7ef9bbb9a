"""One torchrun worker of data-parallel training (`python -m tasks.train_worker REQUEST`, started by
tasks.training.distributed.launch_workers): the same train core as a single process, told by the launcher what to resume."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from tasks.core.config import Params
from tasks.training.distributed import is_rank_zero
from tasks.core.records import TokenizedData
from tasks.core.runtime import configure_runtime, say


def run_worker(request_path: str) -> None:
    configure_runtime()
    from tasks.registry import tracking
    from tasks.train import train_model

    request = json.loads(Path(request_path).read_text())
    params = Params.model_validate(request["params"])
    params._file = request["params_file"]
    on_log = tracking.step_logger(params, request["run_id"]) if request["run_id"] and is_rank_zero() else None
    model = train_model(params, TokenizedData(**request["tokens"]), on_log,
                        show_progress=request["show_progress"] and is_rank_zero(), lineage=request["lineage"],
                        resume_from=request["resume_from"])
    if is_rank_zero():
        Path(request["result"]).write_text(json.dumps(asdict(model)))


if __name__ == "__main__":
    from tasks.core.errors import explain

    try:
        run_worker(sys.argv[1])
    except Exception as error:
        explained = explain(error, "tasks.train")
        if explained is None:
            raise
        if is_rank_zero():
            say(f"error: {explained}")
        raise SystemExit(1) from None

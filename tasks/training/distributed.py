"""Data-parallel training on torch's own launcher: `train.distributed.nproc` > 1 runs the train core in that many
processes under torchrun (`torch.distributed.run`), DDP with gloo on CPU or nccl on GPUs, as Trainer sets it up.

The step's process launches `python -m tasks.train_worker` and waits; every worker trains its share of each batch; process 0 alone logs to MLflow,
says progress and writes the model (Trainer saves on the main process only). The request and the result travel as
small JSON files, like everything else between steps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from tasks.core.config import Params
from tasks.core.errors import LmforgeError
from tasks.core.records import TokenizedData, TrainedModel
from tasks.core.runtime import say


def is_worker() -> bool:
    """Inside a torchrun worker (torchrun sets these for each process it starts)."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def is_rank_zero() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def per_device_batch(cfg) -> int:
    """Rows per process per micro-batch: params' batch is per optimizer step, over processes and accumulation."""
    return cfg.batch_size // (cfg.distributed.nproc * cfg.accumulation_steps)


def threads_per_process(params, processes: int) -> int:
    """torch threads for each of `processes` that share this machine, unless train.threads says otherwise."""
    return params.train.threads or max(1, (os.cpu_count() or 1) // processes)


def process_group():
    """torch.distributed when this process is one of several DDP processes, else None."""
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1 else None


def sum_over_processes(value: float) -> float:
    """The sum of a number over the DDP processes (the number itself in one process)."""
    import torch

    if (group := process_group()) is None:
        return value
    total = torch.tensor([value], dtype=torch.float64)
    group.all_reduce(total)
    return float(total)


def mean_over_processes(value: float) -> float:
    group = process_group()
    return sum_over_processes(value) / (group.get_world_size() if group else 1)


def agree_with_rank_zero(*values: float) -> list[float]:
    """The values as DDP process 0 has them (unchanged in one process): one decision for every process."""
    import torch

    if (group := process_group()) is None:
        return list(values)
    decision = torch.tensor(values, dtype=torch.float64)
    group.broadcast(decision, src=0)
    return decision.tolist()


def launch_workers(params: Params, tokens: TokenizedData, run_id: str | None, lineage: dict | None,
                   resume_from: str | None, show_progress: bool) -> TrainedModel:
    """Run the train core in `nproc` processes on this machine and return process 0's result."""
    nproc = params.train.distributed.nproc
    with tempfile.TemporaryDirectory(prefix="lmforge-ddp-") as folder:
        request, result = Path(folder) / "request.json", Path(folder) / "result.json"
        request.write_text(json.dumps({
            "params": params.model_dump(mode="json", by_alias=True), "params_file": params.source_file,
            "tokens": asdict(tokens), "run_id": run_id, "lineage": lineage, "resume_from": resume_from,
            "show_progress": show_progress,
            "result": str(result)}))
        env = dict(os.environ)
        # Each process gets its share of the cores unless train.threads says otherwise (torchrun's default is 1).
        env.setdefault("OMP_NUM_THREADS", str(threads_per_process(params, nproc)))
        say(f"[ddp] training in {nproc} processes (torchrun), {per_device_batch(params.train)} rows each per micro-batch")
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
                   "-m", "tasks.train_worker", str(request)]
        done = subprocess.run(command, env=env)
        if done.returncode or not result.is_file():
            raise LmforgeError(f"train: the {nproc} data-parallel processes stopped (exit {done.returncode}); the "
                               "lines above say why. Rerun to resume from the last checkpoint, or set "
                               "train.distributed.nproc: 1.")
        return TrainedModel(**json.loads(result.read_text()))

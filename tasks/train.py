"""train: the task kind's model (local checkpoint or small config) with its Hugging Face Trainer; resume, early stopping,
a time budget, weight averaging and DDP are the same for every kind."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from tasks.training.averaging import keep_better, snapshot_callback
from tasks.training.budget import budget_callback, describe_device, speed_meter
from tasks.core.config import Params
from tasks.core.records import TokenizedData, TrainedModel
from tasks.core.run_record import split_facts, write_run_record
from tasks.training.checkpoints import (MODEL_META, RUN_FACTS, WEIGHTS_KEY, checkpoint_dir, find_resumable, hash_weights,
                                        reuse_trained, training_key)
from tasks.kinds import get_kind
from tasks.core.runtime import run_entry, say, step

StepLog = Callable[[dict[str, float], int], None]


def make_callback(on_log: StepLog):
    from transformers import TrainerCallback

    class StepLogger(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            # Validation metrics go to MLflow as val_*: eval_* is the test split's (evaluate), which a later step of
            # the same name would otherwise hide as the run's latest value.
            numbers = {f"val_{k.removeprefix('eval_')}" if k.startswith("eval_") else f"train_{k}": v
                       for k, v in (logs or {}).items() if isinstance(v, (int, float))}
            on_log(numbers, state.global_step)

    return StepLogger()


def swap_progress(trainer) -> None:
    """Keep Trainer's progress bar but not its printed dict per log step: those numbers go to MLflow."""
    from transformers.trainer_callback import ProgressCallback

    class QuietProgress(ProgressCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            pass

    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(QuietProgress)


def train_model(params: Params, tokens: TokenizedData, on_log: StepLog | None = None, show_progress: bool = True,
                lineage: dict[str, str] | None = None, resume_from: str | None = None,
                replay: dict | None = None) -> TrainedModel:
    """The pure core: train, keep the best epoch on validation, save safetensors with tokenizer(s) and params.

    With train.distributed.nproc > 1 it runs in that many torchrun processes (tasks.training.distributed), which log to the
    MLflow run named in `lineage` themselves; `resume_from` is how the launcher tells them what to resume. `replay`:
    a recorded time budget (lmforge.json's "budget") to replay by steps, for a rebuild."""
    from tasks.training.distributed import is_worker, launch_workers

    if not is_worker():
        resume = find_resumable(checkpoint_dir(params, tokens)) if params.train.resume else None
        if resume:
            folder, state = resume
            say(f"[resume] from {folder.name}: step {state['global_step']}, epoch {state.get('epoch') or 0:.2f} of an "
                "interrupted run with the same data and params")
        resume_from = str(resume[0]) if resume else None
        if params.train.distributed.nproc > 1:
            return launch_workers(params, tokens, (lineage or {}).get("run_id"), lineage, resume_from, show_progress)
    return fit_model(params, tokens, on_log, show_progress, lineage, resume_from, replay)


def fit_model(params: Params, tokens: TokenizedData, on_log: StepLog | None, show_progress: bool,
              lineage: dict[str, str] | None, resume_from: str | None, replay: dict | None = None) -> TrainedModel:
    """Train in this process (one of several under DDP: then only process 0 writes the model)."""
    import torch
    from transformers import EarlyStoppingCallback, set_seed

    from tasks.training.distributed import mean_over_processes
    from tasks.training.environment import describe_environment
    from tasks.training.replay import replay_callback
    from tasks.tokenize import read_meta
    from tasks.training.tokenizer_io import copy_tokenizers, read_tokenizer

    cfg, kind = params.train, get_kind(params.task)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    # Deterministic kernels where torch has them (a warning names an op that has none); data order, dropout and
    # initialisation come from the seed alone.
    torch.use_deterministic_algorithms(True, warn_only=True)
    set_seed(params.project.seed)
    labels = read_meta(tokens.path)["labels"]
    tokenizer = read_tokenizer(tokens.tokenizer_path)
    checkpoints = checkpoint_dir(params, tokens)
    callbacks = [EarlyStoppingCallback(cfg.early_stopping_patience)] if cfg.early_stopping_patience else []
    if on_log:
        callbacks.append(make_callback(on_log))
    budget = replay_callback(replay) if replay else budget_callback(cfg.time_budget_s, on_log) if cfg.time_budget_s else None
    if budget:
        callbacks.append(budget)
    meter = speed_meter()
    callbacks.append(meter)
    snapshots = snapshot_callback(cfg.average_last) if cfg.average_last > 1 else None
    if snapshots:
        callbacks.append(snapshots)
    trainer = kind.build_trainer(params, tokens, tokenizer, labels, checkpoints, callbacks, show_progress)
    if trainer.args.world_size > 1:
        # The model is built (and DDP starts every process from process 0's weights); from here each process draws
        # its own dropout masks: one seed for all gave every process the same masks.
        from accelerate.utils import set_seed as seed_processes

        seed_processes(params.project.seed, device_specific=True)
    if show_progress:
        swap_progress(trainer)
    trainer.data_collator = meter.wrap(trainer.data_collator)
    if cfg.freeze_embeddings:
        # The word embeddings are half of MiniLM's weights; not updating them made each step ~15% faster on 2 cores.
        trainer.model.get_input_embeddings().weight.requires_grad_(False)
    if cfg.freeze_encoder:
        # Nothing in the encoder needs a gradient, so autograd skips its backward pass: the larger part of a step.
        trainer.model.get_encoder().requires_grad_(False)
    result = trainer.train(resume_from_checkpoint=resume_from)
    speed = meter.describe(cfg.batch_size)  # every process: it sums their tokens (before averaging's evaluation)
    averaging = keep_better(trainer, snapshots, on_log) if snapshots else None
    train_loss = mean_over_processes(result.training_loss)  # each process averaged its own rows' losses
    out = Path(params.paths.model)
    model = TrainedModel(path=str(out), best_metric=float(trainer.state.best_metric or 0.0), steps=result.global_step,
                         epochs=float(trainer.state.epoch or 0.0))
    if not trainer.is_world_process_zero():
        return model
    shutil.rmtree(out, ignore_errors=True)
    kind.save_model(trainer, out)
    tokenizer.save_pretrained(str(out))
    copy_tokenizers(tokens.path, out)
    meta = {"labels": labels, "params": params.model_dump(mode="json", by_alias=True), "tokenized_cache_key": tokens.cache_key,
            "training_key": training_key(params, tokens), "best_metric": trainer.state.best_metric, "averaging": averaging, "best_by": trainer.args.metric_for_best_model,
            "steps": result.global_step, "epochs": trainer.state.epoch, "train_seconds": result.metrics.get("train_runtime"),
            "train_loss": train_loss, **speed, "device": describe_device(), "environment": describe_environment(),
            "processes": trainer.args.world_size, "budget": budget.describe() if budget else None,
            WEIGHTS_KEY: hash_weights(out), **(lineage or {})}
    made, facts = split_facts(meta, RUN_FACTS)
    write_run_record(out, facts)
    (out / MODEL_META).write_text(json.dumps(made, indent=1))  # last: its presence means the folder is whole
    # A finished run leaves nothing to resume; keeping its checkpoints would make the next run a no-op.
    shutil.rmtree(checkpoints, ignore_errors=True)
    return model


@step
def train(params: Params, tokens: TokenizedData, run_id: str, data_version: str, reuse: bool = True) -> TrainedModel:
    """`reuse`: take a finished, unregistered model of the same inputs (the flow passes False under --force)."""
    from tasks.registry import tracking

    if reuse and (found := reuse_trained(params, tokens, run_id)):
        return found
    return train_model(params, tokens, tracking.step_logger(params, run_id),
                       lineage={"run_id": run_id, "data_version": data_version})


def main(params: Params) -> None:
    """Under DVC the train stage opens the MLflow run that evaluate and register then add to."""
    from tasks.registry import tracking
    from tasks.tokenize import read_meta
    from tasks.validate import read_report

    meta = read_meta(params.paths.tokenized)
    run_id = tracking.start_run(params, run_name="dvc-repro")
    tracking.log_validation(run_id, read_report(params), params)
    tokens = TokenizedData(path=params.paths.tokenized, cache_key=meta["cache_key"],
                           tokenizer_path=str(Path(params.paths.tokenized) / "tokenizer"))
    print(train_model(params, tokens, tracking.step_logger(params, run_id),
                      lineage={"run_id": run_id, "data_version": meta["data_version"]}))


if __name__ == "__main__":
    run_entry(main)

"""train: a sequence classifier (local checkpoint or small config) with the Hugging Face Trainer."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from tasks.averaging import keep_better, snapshot_callback
from tasks.budget import budget_callback, describe_device, speed_meter, training_arguments
from tasks.config import Params
from tasks.records import TokenizedData, TrainedModel
from tasks.checkpoints import MODEL_META, checkpoint_dir, find_resumable, reuse_trained, training_key
from tasks.runtime import run_entry, say, step

StepLog = Callable[[dict[str, float], int], None]


def read_split(tokenized_dir: str | Path, name: str, label2id: dict[str, int]) -> list[dict]:
    frame = pd.read_parquet(Path(tokenized_dir) / f"{name}.parquet")
    return [{"input_ids": ids.tolist(), "labels": label2id[label]} for ids, label in zip(frame["input_ids"], frame["label"])]


def build_model(params: Params, labels: list[str], tokenizer):
    """From model.pretrained (a new head for these labels) or from the small from_scratch config."""
    from transformers import AutoModelForSequenceClassification, BertConfig

    label_maps = {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
                  "label2id": {label: i for i, label in enumerate(labels)}}
    if params.model.pretrained:
        return AutoModelForSequenceClassification.from_pretrained(params.model.pretrained, use_safetensors=True,
                                                                  ignore_mismatched_sizes=True,
                                                                  **label_maps)
    size = params.model.from_scratch
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=size.hidden_size, num_hidden_layers=size.layers,
                        num_attention_heads=size.heads, intermediate_size=size.intermediate_size,
                        hidden_dropout_prob=size.dropout, attention_probs_dropout_prob=size.dropout,
                        max_position_embeddings=max(params.tokenize.max_length, 64), pad_token_id=tokenizer.pad_token_id,
                        **label_maps)
    return AutoModelForSequenceClassification.from_config(config)


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


def classification_trainer(params: Params, tokens: TokenizedData, tokenizer, labels: list[str], checkpoints: Path,
                           callbacks: list, show_progress: bool):
    """Trainer for a sequence classifier; the best epoch by validation macro F1."""
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    from tasks.metrics import classification_metrics
    from tasks.sampling import LengthSorted, ShuffledLengthGroups

    label2id = {label: i for i, label in enumerate(labels)}
    best_by = "eval_loss" if params.train.select_by == "loss" else "eval_f1_macro"
    args = TrainingArguments(**training_arguments(params, checkpoints, show_progress, best_by))

    def compute_metrics(prediction) -> dict[str, float]:
        return classification_metrics(prediction.label_ids, prediction.predictions.argmax(-1), labels, prefix="", per_class=False)

    class LengthGroupedTrainer(Trainer):
        def _get_train_sampler(self, train_dataset=None):
            rows = train_dataset if train_dataset is not None else self.train_dataset
            # Grouped by the rows of all processes' micro-batches together: under DDP each process takes its slice
            # of every group, so 2 processes x 16 rows train the very batches 1 process x 32 rows does.
            return ShuffledLengthGroups([len(row["input_ids"]) for row in rows],
                                        self.args.train_batch_size * self.args.world_size, self.args.seed)

        def _get_eval_sampler(self, eval_dataset):
            return LengthSorted([len(row["input_ids"]) for row in eval_dataset])

    return LengthGroupedTrainer(model=build_model(params, labels, tokenizer), args=args,
                   train_dataset=read_split(tokens.path, "train", label2id),
                   eval_dataset=read_split(tokens.path, "validation", label2id), processing_class=tokenizer,
                   data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=compute_metrics, callbacks=callbacks)


def train_model(params: Params, tokens: TokenizedData, on_log: StepLog | None = None, show_progress: bool = True,
                lineage: dict[str, str] | None = None, resume_from: str | None = None) -> TrainedModel:
    """The pure core: train, keep the best epoch on validation, save safetensors with tokenizer(s) and params.

    With train.distributed.nproc > 1 it runs in that many torchrun processes (tasks.distributed), which log to the
    MLflow run named in `lineage` themselves; `resume_from` is how the launcher tells them what to resume."""
    from tasks.distributed import is_worker, launch_workers

    if not is_worker():
        resume = find_resumable(checkpoint_dir(params, tokens)) if params.train.resume else None
        if resume:
            folder, state = resume
            say(f"[resume] from {folder.name}: step {state['global_step']}, epoch {state.get('epoch') or 0:.2f} of an "
                "interrupted run with the same data and params")
        resume_from = str(resume[0]) if resume else None
        if params.train.distributed.nproc > 1:
            return launch_workers(params, tokens, (lineage or {}).get("run_id"), lineage, resume_from, show_progress)
    return fit_model(params, tokens, on_log, show_progress, lineage, resume_from)


def fit_model(params: Params, tokens: TokenizedData, on_log: StepLog | None, show_progress: bool,
              lineage: dict[str, str] | None, resume_from: str | None) -> TrainedModel:
    """Train in this process (one of several under DDP: then only process 0 writes the model)."""
    import torch
    from transformers import AutoTokenizer, EarlyStoppingCallback, set_seed

    from tasks.distributed import mean_over_processes
    from tasks.tokenize import read_meta
    from tasks.tokenize_pairs import TARGET_DIR

    cfg = params.train
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    set_seed(params.project.seed)
    labels = read_meta(tokens.path)["labels"]
    tokenizer = AutoTokenizer.from_pretrained(tokens.tokenizer_path)
    checkpoints = checkpoint_dir(params, tokens)
    callbacks = [EarlyStoppingCallback(cfg.early_stopping_patience)] if cfg.early_stopping_patience else []
    if on_log:
        callbacks.append(make_callback(on_log))
    if cfg.time_budget_s:
        callbacks.append(budget_callback(cfg.time_budget_s, on_log))
    meter = speed_meter()
    callbacks.append(meter)
    snapshots = snapshot_callback(cfg.average_last) if cfg.average_last > 1 else None
    if snapshots:
        callbacks.append(snapshots)
    if params.task == "seq2seq":
        from tasks.train_seq2seq import seq2seq_trainer

        trainer = seq2seq_trainer(params, tokens, tokenizer, checkpoints, callbacks, show_progress)
    else:
        trainer = classification_trainer(params, tokens, tokenizer, labels, checkpoints, callbacks, show_progress)
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
    trainer.save_model(str(out))
    tokenizer.save_pretrained(str(out))
    if (Path(tokens.path) / TARGET_DIR).is_dir():
        shutil.copytree(Path(tokens.path) / TARGET_DIR, out / TARGET_DIR)
    meta = {"labels": labels, "params": params.model_dump(mode="json", by_alias=True), "tokenized_cache_key": tokens.cache_key,
            "training_key": training_key(params, tokens), "best_metric": trainer.state.best_metric, "averaging": averaging, "best_by": trainer.args.metric_for_best_model,
            "steps": result.global_step, "epochs": trainer.state.epoch, "train_seconds": result.metrics.get("train_runtime"),
            "train_loss": train_loss, **speed, "device": describe_device(),
            "processes": trainer.args.world_size,
            **(lineage or {})}
    (out / MODEL_META).write_text(json.dumps(meta, indent=1))
    # A finished run leaves nothing to resume; keeping its checkpoints would make the next run a no-op.
    shutil.rmtree(checkpoints, ignore_errors=True)
    return model


def read_model_meta(model_dir: str | Path) -> dict:
    return json.loads((Path(model_dir) / MODEL_META).read_text())


@step
def train(params: Params, tokens: TokenizedData, run_id: str, data_version: str, reuse: bool = True) -> TrainedModel:
    """`reuse`: take a finished, unregistered model of the same inputs (the flow passes False under --force)."""
    from tasks import tracking

    if reuse and (found := reuse_trained(params, tokens, run_id)):
        return found
    return train_model(params, tokens, tracking.step_logger(params, run_id),
                       lineage={"run_id": run_id, "data_version": data_version})


def main(params: Params) -> None:
    """Under DVC the train stage opens the MLflow run that evaluate and register then add to."""
    from tasks import tracking
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

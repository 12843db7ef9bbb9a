"""Where and how long training runs, as Trainer arguments every task shares: the device (CUDA with bf16 when present, else CPU) and a wall-clock budget whose
learning-rate schedule ends when the budget does, sized from the speed measured while training runs."""

from __future__ import annotations

import functools
import time

REESTIMATE_EVERY = 10  # steps between re-estimates of the total the budget allows


def choose_device(precision: str = "auto") -> dict:
    """TrainingArguments for the best device here: the same params run on a laptop and on a GPU node."""
    import torch

    if torch.cuda.is_available():
        return {"use_cpu": False, "bf16": precision == "bf16" or (precision == "auto" and torch.cuda.is_bf16_supported())}
    return {"use_cpu": True, "bf16": precision == "bf16"}  # CPU autocast to bf16 only when asked: slow without AMX


def describe_device() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)}){', bf16' if torch.cuda.is_bf16_supported() else ''}"
    return f"cpu ({torch.get_num_threads()} threads)"


def rescale_schedule(scheduler, total_steps: int) -> bool:
    """Point a transformers warmup schedule (linear, cosine) at a new total number of steps; False if it has none."""
    lambdas = getattr(scheduler, "lr_lambdas", None) or []
    changed = False
    for i, fn in enumerate(lambdas):
        if isinstance(fn, functools.partial) and "num_training_steps" in fn.keywords:
            lambdas[i] = functools.partial(fn.func, *fn.args, **(fn.keywords | {"num_training_steps": total_steps}))
            changed = True
    return changed


def budget_callback(seconds: float, on_estimate=None):
    """Stop after `seconds` (with a last evaluation and checkpoint, so the best model is still chosen), and keep the
    schedule's end at the step the measured speed says the budget reaches: a fixed steps/s guess ends early or late
    on machines whose speed varies by 2x from hour to hour."""
    from transformers import TrainerCallback

    from tasks.training.distributed import agree_with_rank_zero

    class TimeBudget(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.start = time.monotonic()
            self.start_step = state.global_step  # a resumed run measures its own speed
            self.deadline = self.start + seconds
            self.schedule: list[list[int]] = []  # [step, new total] per rescale: what a rebuild replays
            self.stopped_at: int | None = None

        def on_step_end(self, args, state, control, lr_scheduler=None, **kwargs):
            now = time.monotonic()
            done = state.global_step - self.start_step
            stop, total, rate = now > self.deadline, 0, 0.0
            if not stop and done and done % REESTIMATE_EVERY == 0:
                rate = done / (now - self.start)  # evaluations and saves included, as they recur
                total = state.global_step + int((self.deadline - now) * rate)
            # Under DDP every process must stop at the same step and keep the same schedule, or they wait on each
            # other forever (or their learning rates drift apart): process 0's clock decides for all.
            stop, total, rate = agree_with_rank_zero(stop, total, rate)
            total = int(total)
            if stop:
                control.should_training_stop = control.should_evaluate = control.should_save = True
                self.stopped_at = state.global_step
            elif total and lr_scheduler is not None and rescale_schedule(lr_scheduler, max(total, state.global_step + 1)):
                self.schedule.append([state.global_step, max(total, state.global_step + 1)])
                if on_estimate:
                    on_estimate({"budget_estimated_steps": total, "budget_steps_per_s": rate}, state.global_step)

        def describe(self) -> dict:
            """The budget as steps: where the schedule was rescaled and where training stopped (None: it ran out of
            epochs first). A rebuild replays it (tasks.training.replay) instead of reading a clock."""
            return {"seconds": seconds, "stopped_at": self.stopped_at, "schedule": self.schedule}

    return TimeBudget()


def speed_meter():
    """Training samples/s and real (non-pad) tokens/s over the step loop alone (data loading included, evaluations
    and saves left out), so that lmforge's speed compares with a bare training script's."""
    from transformers import TrainerCallback

    class SpeedMeter(TrainerCallback):
        def __init__(self):
            self.seconds, self.steps, self.tokens, self.pending, self.last, self.paused = 0.0, 0, 0, 0, None, False
            self.ran = 0  # optimizer steps taken in this run (a resumed run starts counting at its checkpoint)

        def wrap(self, collate):
            """The collator, counting the real tokens of each batch it builds."""
            def counted(features):
                batch = collate(features)
                mask = batch.get("attention_mask")
                self.pending += int(mask.sum()) if mask is not None else 0
                return batch
            return counted

        def on_step_end(self, args, state, control, **kwargs):
            now = time.monotonic()
            self.ran += 1
            if self.last is not None and not self.paused:
                self.seconds += now - self.last
                self.steps += 1
                self.tokens += self.pending
            self.last, self.paused, self.pending = now, False, 0

        def on_evaluate(self, args, state, control, **kwargs):
            self.paused = True

        def on_save(self, args, state, control, **kwargs):
            self.paused = True

        def describe(self, batch_size: int) -> dict:
            """Speed figures for the model's meta; None where no step was timed."""
            from tasks.training.distributed import sum_over_processes

            tokens = int(sum_over_processes(self.tokens))  # each DDP process counted its own rows' tokens
            if not self.seconds:
                return {"train_samples_per_second": None, "train_tokens_per_second": None, "steps_run": self.ran}
            return {"steps_run": self.ran, "train_samples_per_second": round(self.steps * batch_size / self.seconds, 3),
                    "train_tokens_per_second": round(tokens / self.seconds, 1)}

    return SpeedMeter()


def training_arguments(params, checkpoints, show_progress: bool, best_by: str) -> dict:
    """What every task's Trainer shares: schedule from params, an evaluation and a checkpoint per epoch, the best kept."""
    from tasks.training.distributed import per_device_batch

    cfg = params.train
    return dict(
        output_dir=str(checkpoints), num_train_epochs=cfg.epochs, max_steps=cfg.max_steps,
        # The batch in params is per optimizer step: each process takes its share, in accumulation_steps pieces.
        per_device_train_batch_size=per_device_batch(cfg),
        gradient_accumulation_steps=cfg.accumulation_steps, per_device_eval_batch_size=params.evaluate.batch_size,
        learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay, warmup_steps=cfg.warmup_steps,
        label_smoothing_factor=cfg.label_smoothing, lr_scheduler_type=cfg.scheduler,
        eval_strategy="epoch", save_strategy="epoch", save_total_limit=2, load_best_model_at_end=True,
        metric_for_best_model=best_by, greater_is_better=best_by != "eval_loss",
        logging_steps=20, seed=params.project.seed, report_to="none", dataloader_pin_memory=False,
        # Batches of similar length: padding to the longest text of a random batch cost ~3x in samples/s.
        train_sampling_strategy="group_by_length", disable_tqdm=not show_progress,
        ddp_backend=None if cfg.distributed.backend == "auto" else cfg.distributed.backend,
        # Every parameter gets a gradient; DDP's search for unused ones is a second pass over the graph per step.
        ddp_find_unused_parameters=False,
        # Trainer scales each process's loss by the process count when a model takes **kwargs, expecting the model
        # to divide by the tokens of all processes; a classifier's loss is a plain mean, so 2 processes stepped with
        # twice the gradient of 1 (its logged loss was 2.08 where 1 process logged 1.04). Off, each process's mean
        # is averaged by DDP: the gradient of the whole batch.
        average_tokens_across_devices=False,
        **choose_device(cfg.precision))

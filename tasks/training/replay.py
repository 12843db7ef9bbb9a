"""A time-budgeted run replayed by its steps: a clock stops training at a different step on every run, so a rebuild
of a registered model rescales the learning-rate schedule at the steps the original did, to the totals it did, and
stops at the step where the original's budget ran out. Same steps, same schedule, same bits."""

from __future__ import annotations


def replay_callback(record: dict):
    """`record`: the budget's description in the model's lmforge.json (stopped_at, schedule)."""
    from transformers import TrainerCallback

    from tasks.training.budget import rescale_schedule

    rescales = {int(step): int(total) for step, total in record.get("schedule") or []}
    stop_at = record.get("stopped_at")

    class ReplayBudget(TrainerCallback):
        def on_step_end(self, args, state, control, lr_scheduler=None, **kwargs):
            if stop_at is not None and state.global_step >= stop_at:
                control.should_training_stop = control.should_evaluate = control.should_save = True
            elif state.global_step in rescales and lr_scheduler is not None:
                rescale_schedule(lr_scheduler, rescales[state.global_step])

        def describe(self) -> dict:
            return dict(record)

    return ReplayBudget()

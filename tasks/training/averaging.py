"""Checkpoint averaging, chosen on validation: the mean of the weights of the last evaluations, kept only when it
scores better on the validation split than the best single epoch (the metric that selects epochs decides both).

Averaging the last checkpoints of a transformer trained from scratch often adds to BLEU; it can also lose when the
averaged epochs are far apart. Which of the two is better is measured in every run, never assumed."""

from __future__ import annotations

from collections import deque


def snapshot_callback(keep: int):
    """A TrainerCallback holding CPU copies of the weights at the last `keep` evaluations (one per epoch, and one when
    a time budget stops training)."""
    from transformers import TrainerCallback

    class Snapshots(TrainerCallback):
        def __init__(self):
            self.states: deque[dict] = deque(maxlen=keep)
            self.frozen = False  # set once training ends: the comparison's own evaluations are no snapshots

        def on_evaluate(self, args, state, control, model=None, **kwargs):
            if model is not None and not self.frozen:
                self.states.append({k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()})

    return Snapshots()


def average_states(states: list[dict]) -> dict:
    """The element-wise mean of floating-point tensors; integer buffers (position ids) as in the last state."""
    import torch

    last = states[-1]
    return {name: torch.stack([s[name].float() for s in states]).mean(0).to(tensor.dtype)
            if tensor.is_floating_point() else tensor.clone() for name, tensor in last.items()}


def keep_better(trainer, snapshots, on_log=None) -> dict | None:
    """After trainer.train() loaded the best epoch: score the average of the snapshots on validation and keep it when
    it beats the best epoch's score. Every DDP process runs this (evaluation is shared). Returns what was measured."""
    snapshots.frozen = True
    states = list(snapshots.states)
    if len(states) < 2 or trainer.state.best_metric is None:
        return None
    args = trainer.args
    best_score = float(trainer.state.best_metric)
    model = trainer.model
    best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    model.load_state_dict(average_states(states))
    averaged = float(trainer.evaluate()[args.metric_for_best_model])
    better = averaged > best_score if args.greater_is_better else averaged < best_score
    if better:
        trainer.state.best_metric = averaged  # what the saved model scores on validation, as for a best epoch
    else:
        model.load_state_dict(best_state)
    name = args.metric_for_best_model.removeprefix("eval_")
    record = {"checkpoints": len(states), "metric": f"val_{name}", "best_epoch": best_score, "average": averaged,
              "kept": "average" if better else "best_epoch"}
    if on_log:
        on_log({f"val_{name}_best_epoch": best_score, f"val_{name}_average_last": averaged,
                "kept_average": float(better)}, trainer.state.global_step)
    return record

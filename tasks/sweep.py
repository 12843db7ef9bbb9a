"""sweep: a search over params with Optuna (TPE with median pruning, random, or grid) whose trials train as Prefect
tasks; `flows/sweep.py` runs them on Dask workers (prefect-dask's DaskTaskRunner).

Each trial is the ordinary train core on the shared tokenized data, with its params overridden by the trial's values,
in its own folder and its own MLflow run nested under the sweep's. The study lives in a journal file that every
worker process opens, so a trial reports its validation score per epoch and is pruned where it trains.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from tasks.core.config import Params, load_params
from tasks.training.distributed import threads_per_process
from tasks.kinds import get_kind
from tasks.core.records import TokenizedData
from tasks.core.runtime import say, step


@dataclass
class TrialResult:
    number: int
    state: str  # complete, pruned or failed
    values: dict[str, object]  # the searched keys' values
    value: float | None = None  # the best validation score (train's selection metric)
    run_id: str = ""
    model_path: str = ""
    message: str = ""
    overrides: list[str] = field(default_factory=list)

    def summary(self) -> str:
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.values.items())
        score = f" {self.value:.4f}" if self.value is not None else ""
        return f"trial {self.number} {self.state}{score} ({shown}){': ' + self.message if self.message else ''}"


def selection_metric(params: Params) -> tuple[str, bool]:
    """The validation score train selects its best epoch by, as train logs it, and whether higher is better."""
    return get_kind(params.task).selection_metric(params)


def sweep_folder(params: Params, sweep_id: str) -> Path:
    return Path(params.paths.model).parent / "sweeps" / sweep_id


def open_study(params: Params, sweep_id: str, create: bool = False):
    """The sweep's Optuna study in a journal file (safe for several processes: it locks the file)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = sweep_folder(params, sweep_id)
    folder.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(folder / "study.journal")))
    if not create:
        return optuna.load_study(study_name=sweep_id, storage=storage)
    cfg = params.sweep
    seed = params.project.seed
    if cfg.sampler == "grid":
        sampler = optuna.samplers.GridSampler({k: v.choices for k, v in cfg.space.items()}, seed=seed)
    elif cfg.sampler == "random":
        sampler = optuna.samplers.RandomSampler(seed=seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(cfg.workers, cfg.trials))
    # A trial is pruned from its second evaluation on, against the median of the trials before it at that epoch.
    pruner = optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=1) if cfg.pruning else optuna.pruners.NopPruner()
    return optuna.create_study(study_name=sweep_id, storage=storage, sampler=sampler, pruner=pruner,
                               direction="maximize" if selection_metric(params)[1] else "minimize")


def suggest_values(trial, params: Params) -> dict[str, object]:
    """The trial's value for each searched key."""
    values = {}
    for key, searched in params.sweep.space.items():
        if searched.choices is not None:
            values[key] = trial.suggest_categorical(key, searched.choices)
        elif isinstance(searched.low, int) and isinstance(searched.high, int):
            values[key] = trial.suggest_int(key, searched.low, searched.high, log=searched.log)
        else:
            values[key] = trial.suggest_float(key, float(searched.low), float(searched.high), log=searched.log)
    return values


def trial_overrides(params: Params, sweep_id: str, number: int, values: dict[str, object]) -> list[str]:
    """--set lines for one trial: its values, its own model folder, and its share of the cores."""
    import json

    folder = sweep_folder(params, sweep_id) / f"trial-{number}"
    threads = threads_per_process(params, params.sweep.workers)
    return [f"{key}={json.dumps(value)}" for key, value in values.items()] + [
        f"paths.model={folder / 'model'}", f"train.threads={threads}"]


def train_trial(params: Params, tokens: TokenizedData, trial, on_log) -> tuple[str, float | None, str]:
    """Train one trial; report its validation score per evaluation and stop when Optuna prunes it.
    Returns (state, score, model folder)."""
    import optuna

    from tasks.train import train_model

    key, _ = selection_metric(params)
    scores: list[float] = []

    def report(metrics: dict[str, float], step: int) -> None:
        on_log(metrics, step)
        if key in metrics:
            scores.append(metrics[key])
            trial.report(metrics[key], len(scores))
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after {len(scores)} evaluations ({key} {metrics[key]:.4f})")

    try:
        model = train_model(params, tokens, report, show_progress=False)
    except optuna.TrialPruned as pruned:
        shutil.rmtree(Path(params.paths.model).parent, ignore_errors=True)
        say(f"[sweep] trial {trial.number}: {pruned}")
        return "pruned", scores[-1] if scores else None, ""
    return "complete", model.best_metric, model.path


@step
def trial(params_path: str, overrides: list[str], tokens: TokenizedData, sweep_id: str, parent_run_id: str,
          data_version: str) -> TrialResult:
    """One trial as a Prefect task (on a Dask worker under the sweep flow): it asks the shared study for its values
    when it starts, so it learns from every trial finished by then, and tells the study how it ended."""
    from optuna.trial import TrialState

    from tasks.registry import tracking
    from tasks.core.errors import explain

    params = load_params(params_path, overrides)
    study = open_study(params, sweep_id)
    asked = study.ask()
    values = suggest_values(asked, params)
    extra = trial_overrides(params, sweep_id, asked.number, values)
    params = load_params(params_path, [*overrides, *extra])
    run_id = tracking.start_run(params, run_name=f"trial-{asked.number}")
    tracking.set_tags(params, run_id, {"mlflow.parentRunId": parent_run_id, "sweep": sweep_id,
                                       "sweep_trial": asked.number, "data_version": data_version})
    try:
        state, value, path = train_trial(params, tokens, asked, tracking.step_logger(params, run_id))
    except Exception as error:  # one failed trial is reported; the sweep goes on with the others
        message = str(explain(error, "train") or error).splitlines()[0]
        study.tell(asked, state=TrialState.FAIL)
        tracking.mark_failed(params, run_id, message)
        return TrialResult(asked.number, "failed", values, run_id=run_id, message=message, overrides=extra)
    study.tell(asked, value if state == "complete" else None,
               state=TrialState.COMPLETE if state == "complete" else TrialState.PRUNED)
    tracking.set_tags(params, run_id, {"sweep_state": state})
    tracking.end_run(params, run_id, "FINISHED" if state == "complete" else "KILLED")
    return TrialResult(asked.number, state, values, value, run_id, path, overrides=extra)


def remove_unchosen(params: Params, sweep_id: str, results: list[TrialResult], chosen: TrialResult) -> None:
    """The other trials' models are in no registry (their MLflow runs keep their metrics): only the chosen one stays."""
    for result in results:
        if result.number != chosen.number:
            shutil.rmtree(sweep_folder(params, sweep_id) / f"trial-{result.number}", ignore_errors=True)

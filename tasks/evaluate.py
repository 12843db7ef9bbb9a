"""evaluate: score the trained model on the test split (the task kind knows how); metrics JSON for DVC, the kind's
plots and tables, all logged on the run."""

from __future__ import annotations

import json
from pathlib import Path

from tasks.config import Params
from tasks.kinds import get_kind
from tasks.records import Evaluation
from tasks.runtime import run_entry, step

def evaluate_model(params: Params, model_dir: str | Path, show_progress: bool = True) -> Evaluation:
    """The pure core: the task kind scores the test split; metrics in paths.metrics/eval.json, with its plots and
    tables beside it, and each row's output for promote."""
    return Evaluation(*get_kind(params.task).evaluate_model(params, model_dir, show_progress))


def log_evaluation(params: Params, run_id: str, evaluation: Evaluation) -> None:
    """Metrics, plots and tables on the run; sacreBLEU's signatures as tags, so a BLEU is never read without one."""
    from tasks import tracking

    from tasks.predictions import ARTIFACT_PATH, PREDICTIONS_FILE

    tracking.log_metrics(params, run_id, evaluation.metrics)
    predictions = Path(params.paths.metrics) / PREDICTIONS_FILE  # a later promote reads them if this one is champion
    for path in [*evaluation.artifacts, *([str(predictions)] if predictions.is_file() else [])]:
        tracking.log_artifact(params, run_id, path, ARTIFACT_PATH)
        if Path(path).name == "sacrebleu.json":
            tracking.set_tags(params, run_id, json.loads(Path(path).read_text()))


@step
def evaluate(params: Params, model_dir: str, run_id: str) -> Evaluation:
    evaluation = evaluate_model(params, model_dir)
    log_evaluation(params, run_id, evaluation)
    return evaluation


def main(params: Params) -> None:
    from tasks.checkpoints import read_model_meta

    evaluation = evaluate_model(params, params.paths.model)
    log_evaluation(params, read_model_meta(params.paths.model)["run_id"], evaluation)
    print(json.dumps(evaluation.metrics, indent=1))


if __name__ == "__main__":
    run_entry(main)

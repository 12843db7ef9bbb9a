"""evaluate: score the trained model on the test split (the task kind knows how); metrics JSON for DVC, the kind's
plots and tables, all logged on the run."""

from __future__ import annotations

import json
from pathlib import Path

from tasks.core.config import Params
from tasks.kinds import get_kind
from tasks.core.records import Evaluation
from tasks.core.runtime import run_entry, step

EVAL_FILE = "eval.json"
INTERVALS_FILE = "intervals.json"
INTERVAL_LEVEL, INTERVAL_RESAMPLES = 0.95, 1000
NO_INTERVALS = "this kind's saved test outputs cannot give intervals (perplexity needs the model's probabilities)"
COLLAPSED = 0.5  # one output for more than half the test rows ...
OVER_REFERENCE = 2.0  # ... and for more than twice the share of the most common reference: a collapsed model


def describe_outputs(predicted: list[str], references: list[str] | None) -> dict[str, float]:
    """How varied the model's test outputs are: the share of distinct outputs and of the most common one (for a
    classifier, the label it predicts most), beside the most common reference's share."""
    from collections import Counter

    if not predicted:
        return {}
    spread = {"eval_distinct_output_share": len(set(predicted)) / len(predicted),
              "eval_top_output_share": Counter(predicted).most_common(1)[0][1] / len(predicted)}
    if references:
        spread["eval_top_reference_share"] = Counter(references).most_common(1)[0][1] / len(references)
    return {name: round(value, 4) for name, value in spread.items()}


def warn_collapsed(metrics: dict[str, float], top_output: str) -> list[str]:
    """A warning when one output covers most of the test split, more than the references would explain."""
    top, reference = metrics.get("eval_top_output_share"), metrics.get("eval_top_reference_share")
    if top is None or top <= COLLAPSED or (reference is not None and top <= OVER_REFERENCE * reference):
        return []
    shown = top_output if len(top_output) <= 40 else top_output[:40] + "..."
    than = f" (the most common reference: {reference:.0%})" if reference is not None else ""
    return [f"one output, {shown!r}, is {top:.0%} of the test predictions{than}: the model may have collapsed to "
            "it; train longer, change train.learning_rate, or look at the data"]


def evaluate_model(params: Params, model_dir: str | Path, show_progress: bool = True) -> Evaluation:
    """The pure core: the task kind scores the test split; metrics in paths.metrics/eval.json, with its plots and
    tables beside it, each row's output for promote, and a warning when the outputs collapsed to one."""
    import pandas as pd

    from tasks.registry.predictions import PREDICTIONS_FILE

    kind = get_kind(params.task)
    metrics, artifacts = kind.evaluate_model(params, model_dir, show_progress)
    predicted = pd.read_parquet(Path(params.paths.metrics) / PREDICTIONS_FILE)["predicted"].astype(str).tolist()
    references = None
    if kind.REFERENCE_COLUMN:
        test = pd.read_parquet(Path(params.paths.validated) / "test.parquet", columns=[kind.REFERENCE_COLUMN])
        references = test[kind.REFERENCE_COLUMN].astype(str).tolist()
    metrics = metrics | describe_outputs(predicted, references)
    (Path(params.paths.metrics) / EVAL_FILE).write_text(json.dumps(metrics, indent=1, sort_keys=True))
    artifacts = [*artifacts, str(write_intervals(params, kind, model_dir, predicted))]
    from collections import Counter

    top = Counter(predicted).most_common(1)[0][0] if predicted else ""
    return Evaluation(metrics, artifacts, warn_collapsed(metrics, top))


def write_intervals(params: Params, kind, model_dir: str | Path, predicted: list[str]) -> Path:
    """Percentile bootstrap intervals of the test metrics over test rows (seeded: the same file for the same
    outputs), beside eval.json; the model card shows them. A kind whose outputs cannot give them says why."""
    import pandas as pd

    from tasks.registry.promotion_rule import bootstrap_interval

    test = pd.read_parquet(Path(params.paths.validated) / "test.parquet")
    scorers = kind.row_scorers(params, model_dir, test, predicted) if predicted else {}
    alpha, seed = 1 - INTERVAL_LEVEL, params.project.seed
    found = {f"eval_{name}": [round(bound, 6) for bound in bootstrap_interval(score, len(predicted),
                                                                               INTERVAL_RESAMPLES, alpha, seed)]
             for name, score in scorers.items()}
    record = {"level": INTERVAL_LEVEL, "resamples": INTERVAL_RESAMPLES, "seed": seed, "rows": len(predicted),
              "method": "percentile bootstrap over test rows", "intervals": found,
              "missing": "" if found else "no test outputs" if not predicted else NO_INTERVALS}
    path = Path(params.paths.metrics) / INTERVALS_FILE
    path.write_text(json.dumps(record, indent=1, sort_keys=True))
    return path


def log_evaluation(params: Params, run_id: str, evaluation: Evaluation) -> None:
    """Metrics, plots and tables on the run; sacreBLEU's signatures as tags, so a BLEU is never read without one."""
    from tasks.registry import tracking

    from tasks.registry.predictions import ARTIFACT_PATH, PREDICTIONS_FILE

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
    print_warnings(evaluation)
    return evaluation


def print_warnings(evaluation: Evaluation) -> None:
    from tasks.core.runtime import say

    for warning in evaluation.warnings:
        say(f"  warning: {warning}")


def main(params: Params) -> None:
    from tasks.registry.tracking import model_run

    evaluation = evaluate_model(params, params.paths.model)
    log_evaluation(params, model_run(params), evaluation)
    print_warnings(evaluation)
    print(json.dumps(evaluation.metrics, indent=1))


if __name__ == "__main__":
    run_entry(main)

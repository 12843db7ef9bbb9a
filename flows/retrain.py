"""The retraining flow: ingest, validate, tokenize, train, evaluate, register. It only wires the steps."""

from __future__ import annotations

from dataclasses import dataclass, field

from prefect import flow

from tasks import tracking
from tasks.config import load_params
from tasks.errors import LmforgeError
from tasks.evaluate import evaluate
from tasks.ingest import ingest
from tasks.register import register
from tasks.runtime import collect_timings
from tasks.tokenize import tokenize
from tasks.train import train
from tasks.validate import failure_message, validate


class ValidationFailed(LmforgeError):
    """The dataset broke the expectation suite; the flow stops before tokenizing."""


@dataclass
class RunSummary:
    data_version: str
    validation: str
    tokens: str
    metrics: dict[str, float]
    model_name: str
    model_version: str
    alias: str
    run_id: str
    tracking_uri: str
    seconds: dict[str, float] = field(default_factory=dict)


@flow(name="retrain")
def retrain(params_path: str = "params.yaml", overrides: list[str] | None = None) -> RunSummary:
    params = load_params(params_path, overrides)
    run_id = tracking.start_run(params)
    with collect_timings() as seconds:
        try:
            dataset = ingest(params)
            report = validate(params, run_id, dataset.data_version)
            if not report.success:
                raise ValidationFailed(failure_message(report))
            tokens = tokenize(params, dataset.data_version)
            model = train(params, tokens, run_id, dataset.data_version)
            evaluation = evaluate(params, model.path, run_id)
            version = register(params, model.path, run_id, dataset.data_version, report.success)
        except BaseException as error:
            tracking.set_tags(params, run_id, {"error": str(error)[:4000]})
            tracking.end_run(params, run_id, "FAILED")
            raise
    tracking.end_run(params, run_id)
    return RunSummary(data_version=dataset.data_version, validation=f"passed ({report.evaluated} checks)",
                      tokens=f"cache key {tokens.cache_key} ({'reused' if tokens.reused else 'new'})",
                      metrics=evaluation.metrics, model_name=version.name, model_version=version.version,
                      alias=version.alias, run_id=run_id, tracking_uri=tracking.tracking_uri(params), seconds=seconds)

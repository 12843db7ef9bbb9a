"""MLflow tracking for the Prefect wrappers and DVC entries; the step cores never import it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tasks.core.config import Params
from tasks.core.errors import LmforgeError, explain_unanswered, redact
from tasks.core.records import ValidationReport
from tasks.core.run_record import DATA_DOCS, read_run_record, write_run_record


def tracking_uri(params: Params) -> str:
    """MLFLOW_TRACKING_URI wins over params; a relative SQLite path is made absolute for the UI's sake."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or params.registry.tracking_uri
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        db = Path(uri.removeprefix(prefix)).resolve()
        db.parent.mkdir(parents=True, exist_ok=True)
        uri = prefix + str(db)
    return uri


def check_server(params: Params) -> None:
    """Before a run starts: an HTTP tracking server must answer its /health, or the run stops here in one sentence
    (with MLflow's bounded retries) instead of after its first step."""
    uri = tracking_uri(params)
    if not uri.startswith(("http://", "https://")):
        return
    from mlflow.utils.rest_utils import MlflowHostCreds, http_request

    from mlflow.exceptions import MlflowException

    try:
        answer = http_request(MlflowHostCreds(uri), "/health", "GET")
    except MlflowException as error:
        raise explain_unanswered(error) or LmforgeError(redact(str(error))) from None
    except Exception as error:  # noqa: BLE001 - requests' errors carry the URL, credentials included
        raise LmforgeError(f"the MLflow tracking server at {redact(uri)} did not answer ({type(error).__name__}); "
                           "start it, or point registry.tracking_uri (or MLFLOW_TRACKING_URI) at one that runs.") from None
    if answer.status_code != 200:
        raise LmforgeError(f"the MLflow tracking server at {redact(uri)} answered /health with HTTP "
                           f"{answer.status_code}; check that server, or point registry.tracking_uri at one that runs.")


def client(params: Params):
    """An MlflowClient on this project's store; sets the process-wide URI too, for log_model and loading."""
    import mlflow
    from mlflow import MlflowClient

    uri = tracking_uri(params)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(uri, uri)


def experiment_id(params: Params) -> str:
    from mlflow.exceptions import MlflowException

    mlflow_client = client(params)
    found = mlflow_client.get_experiment_by_name(params.registry.experiment)
    if found:
        return found.experiment_id
    try:
        if tracking_uri(params).startswith(("http://", "https://")):
            return mlflow_client.create_experiment(params.registry.experiment)  # the server's artifact store, not ours
        artifacts = Path(params.registry.artifact_location).resolve()
        artifacts.mkdir(parents=True, exist_ok=True)
        return mlflow_client.create_experiment(params.registry.experiment, artifact_location=artifacts.as_uri())
    except MlflowException as error:
        # Two workers' first runs at once: the other one created it between our look and our create.
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        return mlflow_client.get_experiment_by_name(params.registry.experiment).experiment_id


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() or "unknown"


def git_dirty() -> str:
    """"true" when the code (tasks/, flows/, pyproject.toml) differs from the commit: then the commit alone does not
    hold the code that ran. The files lmforge itself rewrites (dvc.lock, pipelines.yaml) do not count."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "tasks", "flows",
                              "pyproject.toml"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return "unknown" if out.returncode else str(bool(out.stdout.strip())).lower()


def flatten(tree: dict, prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = redact(str(value))
    return flat


def start_run(params: Params, run_name: str | None = None) -> str:
    """A new run with the resolved params and code lineage; returns its id."""
    from mlflow.entities import Param, RunTag

    from tasks import __version__

    mlflow_client = client(params)
    run = mlflow_client.create_run(experiment_id(params), run_name=run_name)
    from tasks.hub.pins import hub_tags

    tags = {"params_hash": params.section_hash(), "git_commit": git_commit(), "lmforge_version": __version__,
            "data_source": redact(params.data.source), "task": params.task, **hub_tags(params)}
    flat = flatten(params.model_dump(mode="json", by_alias=True))
    mlflow_client.log_batch(run.info.run_id, params=[Param(k, v[:6000]) for k, v in flat.items()],
                            tags=[RunTag(k, v) for k, v in tags.items()])
    return run.info.run_id


def model_run(params: Params) -> str:
    """Under DVC: the MLflow run that trained the model folder, from its run record. A folder DVC restored from its
    cache has none (no run here made it): it gets a new run, named so."""
    facts = read_run_record(params.paths.model)
    if facts.get("run_id"):
        return facts["run_id"]
    run_id = start_run(params, run_name="dvc-repro (model restored from DVC's cache)")
    write_run_record(params.paths.model, facts | {"run_id": run_id})
    return run_id


def log_metrics(params: Params, run_id: str, metrics: dict[str, float], step: int | None = None) -> None:
    import time

    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    batch = [Metric(key, float(value), now, step or 0) for key, value in metrics.items()]
    client(params).log_batch(run_id, metrics=batch)


def set_tags(params: Params, run_id: str, tags: dict[str, str]) -> None:
    from mlflow.entities import RunTag

    client(params).log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])


def log_artifact(params: Params, run_id: str, path: str | Path, artifact_path: str | None = None) -> None:
    path = Path(path)
    if path.is_dir():
        client(params).log_artifacts(run_id, str(path), artifact_path)
    elif path.exists():
        client(params).log_artifact(run_id, str(path), artifact_path)


def log_validation(run_id: str, report: ValidationReport, params: Params) -> None:
    """The GX result (JSON and Data Docs) and its verdict, on the run."""
    set_tags(params, run_id, {"validation_success": str(report.success).lower()})
    log_metrics(params, run_id, {"validation_failed_checks": len(report.failures),
                                 "validation_warnings": len(report.warnings),
                                 "validation_dropped_rows": sum(report.dropped.values()),
                                 **{f"validation_dropped_{name}": n for name, n in report.dropped.items()}})
    log_artifact(params, run_id, report.report_path, "validation")
    log_artifact(params, run_id, Path(report.report_path).parent / "dropped.parquet", "validation")
    docs = Path(report.report_path).parent / DATA_DOCS
    if docs.is_dir():  # a validation DVC restored from its cache has no Data Docs: they are a run's pages
        log_artifact(params, run_id, docs, "validation/docs")


def end_run(params: Params, run_id: str, status: str = "FINISHED") -> None:
    client(params).set_terminated(run_id, status)


def mark_failed(params: Params, run_id: str, error: str) -> None:
    """End the run FAILED with its error; when the tracking server is what failed, it stays RUNNING there (said once)."""
    try:
        set_tags(params, run_id, {"error": error[:4000]})
        end_run(params, run_id, "FAILED")
    except Exception as failure:  # noqa: BLE001 - the run's own error is what the user must see
        warn_unanswered(failure, f"MLflow run {run_id} could not be marked FAILED: its tracking server did not answer")


def warn_unanswered(error: Exception, warning: str) -> None:
    """Say `warning` when `error` is a tracking server that did not answer (the run goes on); re-raise anything else."""
    if explain_unanswered(error) is None:
        raise error
    from tasks.core.runtime import say

    say(f"[warn] {warning}")


def step_logger(params: Params, run_id: str):
    """A callback for training loops: (metrics, step) logged to the run as they come.

    A tracking server that stops answering does not stop training: the first failure is said once and later steps
    are not sent (each would wait out MLflow's retries); the run's test metrics are logged by the run that registers
    the model."""
    failed: list[str] = []

    def log(metrics: dict[str, float], step: int) -> None:
        if failed:
            return
        try:
            log_metrics(params, run_id, metrics, step)
        except Exception as error:  # noqa: BLE001 - checked by warn_unanswered
            warn_unanswered(error, f"training goes on without sending its metrics from step {step}: "
                                   f"{explain_unanswered(error)}")
            failed.append(str(error))

    return log

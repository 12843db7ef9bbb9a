"""The monitor's verdict and where it goes: a run of the monitoring experiment in MLflow (figures charted per version
over time, an HTML report), a Prefect markdown artifact, and a Prefect event a deployment trigger can act on."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from tasks.core.config import Params


@dataclass
class MonitorReport:
    drift: bool
    rows: int
    model_name: str
    model_version: str
    window_hours: float
    message: str
    tests: dict[str, dict] = field(default_factory=dict)
    signals: dict[str, float] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    quality: dict = field(default_factory=dict)  # live accuracy on labelled requests (lmforge feedback)
    checks: dict[str, dict] = field(default_factory=dict)  # the kind's validation checks on the logged inputs
    run_id: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        return f"{self.rows} requests of version {self.model_version}: {self.message}"


def report_markdown(report: MonitorReport) -> str:
    lines = [f"# lmforge monitor: {report.model_name} version {report.model_version}", "",
             f"**{'DRIFT' if report.drift else 'no drift'}**: {report.message}; {report.rows} requests of the last "
             f"{report.window_hours:g} hours against the version's test split.", "",
             "| test | statistic | p-value | drift |", "| --- | --- | --- | --- |"]
    lines += [f"| {name} | {result['statistic']:.4g} | {result['p_value']:.4g} | {'yes' if result['drift'] else 'no'} |"
              for name, result in report.tests.items()]
    if report.quality:
        q = report.quality
        versus = f" (test split: {q['test_value']:.4f})" if q.get("test_value") is not None else ""
        lines += ["", f"Live {q['metric']} on {q['labelled']} labelled requests: {q['value']:.4f} "
                      f"[{q['low']:.4f}, {q['high']:.4f}]{versus}"]
    if report.checks:
        lines += ["", "| data check (logged inputs) | failing | rows |", "| --- | --- | --- |",
                  *(f"| {name} | {c['unexpected']} | {c['rows']} |" for name, c in report.checks.items())]
    if report.signals:
        lines += ["", "| signal | value |", "| --- | --- |", *(f"| {k} | {v:g} |" for k, v in report.signals.items())]
    if report.examples:
        lines += ["", "Most drifted inputs:", "", *(f"- {text[:200]}" for text in report.examples)]
    return "\n".join(lines) + "\n"


def record_report(params: Params, report: MonitorReport) -> str:
    """A run in the monitoring experiment (monitor.experiment): each test's statistic and p-value and each signal
    as metrics, so the MLflow UI charts them over time per version, and the report as an HTML artifact."""
    import html
    import tempfile

    from tasks.registry import tracking

    settings = params.model_copy(update={"registry": params.registry.model_copy(
        update={"experiment": params.monitor.experiment})})
    run_id = tracking.start_run(settings, run_name=f"monitor {report.model_name} v{report.model_version}")
    metrics = {"rows": report.rows, "drift": float(report.drift), **report.signals}
    for name, result in report.tests.items():
        metrics |= {f"{name}_statistic": result["statistic"], f"{name}_p_value": result["p_value"]}
    metrics |= {f"check_{name}_failing": check["unexpected"] for name, check in report.checks.items()}
    if report.quality:
        metrics |= {f"live_{report.quality['metric']}": report.quality["value"], "labelled": report.quality["labelled"]}
    tracking.log_metrics(settings, run_id, metrics)
    tracking.set_tags(settings, run_id, {"model_name": report.model_name, "model_version": report.model_version,
                                         "verdict": "drift" if report.drift else "ok", "message": report.message})
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "monitor_report.html"
        page.write_text(f"<html><body><pre>{html.escape(report_markdown(report))}</pre></body></html>")
        tracking.log_artifact(settings, run_id, page)
    tracking.end_run(settings, run_id)
    return run_id


def publish_report(params: Params, report: MonitorReport) -> None:
    """In a Prefect run: the report as a markdown artifact, and the event lmforge.monitor.drift or .ok carrying its
    figures, which a deployment trigger can act on."""
    from prefect.artifacts import create_markdown_artifact
    from prefect.events import emit_event

    create_markdown_artifact(markdown=report_markdown(report), key=f"{report.model_name}-monitor",
                             description="lmforge monitor: drift tests of the champion's recent answers")
    resource = {"prefect.resource.id": f"lmforge.model.{report.model_name}",
                "lmforge.model_version": report.model_version}
    emit_event(event=f"lmforge.monitor.{'drift' if report.drift else 'ok'}", resource=resource,
               payload=report.to_dict())
    if report.drift and params.monitor.on_drift == "retrain":
        emit_event(event="lmforge.retrain.requested", resource=resource,
                   payload={"reason": "drift", "params_path": str(params.source_file or "params.yaml"),
                            "message": report.message})



"""The monitor's verdicts as gauges: the server reads the latest run of the monitoring experiment (monitor.experiment)
for each version it serves, so one Prometheus alert covers drift as it covers latency.

Chosen over a Pushgateway: the monitor runs as a Prefect flow on any machine, its runs already go to MLflow, and the
server is already scraped; a Pushgateway would be one more service to run, secure and keep in step, and would keep
a version's last push after it stopped serving."""

from __future__ import annotations

import math
import sys
import time

from tasks.core.errors import redact_error

RUNS_READ = 200  # the newest monitoring runs looked at: far more than the versions a server serves at once


class MonitorGauges:
    def __init__(self, metrics, client, params):
        self.metrics, self.client, self.params = metrics, client, params
        self.due_at, self.shown, self.failing = 0.0, set(), False

    def refresh_if_due(self, versions: list[str]) -> None:
        if time.monotonic() < self.due_at:
            return
        self.due_at = time.monotonic() + self.params.serve.metrics.monitor_refresh_s
        try:
            self.refresh(versions)
            self.failing = False
        except Exception as error:  # noqa: BLE001 - a registry that is down costs the gauges a refresh, not the server
            if not self.failing:
                print(f"lmforge serve: the monitor's verdicts could not be read ({redact_error(error)}); "
                      "lmforge_monitor_* keep their last values.", file=sys.stderr, flush=True)
            self.failing = True

    def refresh(self, versions: list[str]) -> None:
        model = self.params.registry.model_name
        latest = self.latest_runs(model, set(versions))
        for version, run in latest.items():
            self.show(model, version, run)
        for version, test in self.shown:  # no longer served: NaN, so no alert holds on an old verdict
            if version not in latest:
                self.show(model, version, None, test)
        self.shown = {(version, test) for version, run in latest.items() for test in tests_of(run)} | \
                     {(version, None) for version in latest}

    def latest_runs(self, model: str, versions: set[str]) -> dict:
        """The newest monitoring run of each version in `versions`; a run without a version is not any version's."""
        experiment = self.client.get_experiment_by_name(self.params.monitor.experiment)
        if experiment is None or not versions:
            return {}
        runs = self.client.search_runs([experiment.experiment_id], f"tags.model_name = '{model}'",
                                       max_results=RUNS_READ, order_by=["attributes.start_time DESC"])
        latest = {}
        for run in runs:
            version = run.data.tags.get("model_version")
            if version in versions and version not in latest:
                latest[version] = run
        return latest

    def show(self, model: str, version: str, run, test: str | None = None) -> None:
        m = self.metrics
        if run is None:  # a series of a version no longer served (test None: the version's own gauges)
            if test is None:
                for gauge in (m.drift, m.rows, m.last_run):
                    gauge.labels(model, version).set(math.nan)
            else:
                m.statistic.labels(model, version, test).set(math.nan)
                m.p_value.labels(model, version, test).set(math.nan)
            return
        figures = run.data.metrics
        m.drift.labels(model, version).set(figures.get("drift", math.nan))
        m.rows.labels(model, version).set(figures.get("rows", math.nan))
        m.last_run.labels(model, version).set(run.info.start_time / 1000)
        for name in tests_of(run):
            m.statistic.labels(model, version, name).set(figures[f"{name}_statistic"])
            m.p_value.labels(model, version, name).set(figures.get(f"{name}_p_value", math.nan))


def tests_of(run) -> list[str]:
    return sorted(key.removesuffix("_statistic") for key in run.data.metrics if key.endswith("_statistic"))

"""The metrics `lmforge serve` exposes on /metrics, in Prometheus' conventions: the `lmforge_` prefix, base units
(seconds, bytes), `_total` on counters. docs/serving.md has the table; ops/prometheus/ the alerts built on them.

Made on first use, not at import: prometheus_client picks its multiprocess storage from PROMETHEUS_MULTIPROC_DIR when
it is imported, which `lmforge serve` sets (for serve.workers > 1) before any worker starts. In that mode counters and
histograms are summed over the workers (a worker that dies keeps its counts: no counter goes backwards), and each
gauge says how its workers combine: `live*` gauges lose a dead worker's series at the next scrape.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


@functools.cache
def serve_metrics() -> SimpleNamespace:
    from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

    disable_created_metrics()  # no `_created` series: one process's start time is noise beside a sum of workers
    return SimpleNamespace(
        requests=Counter("lmforge_requests_total", "HTTP requests answered, by handler, status code, the model "
                         "version that answered ('' when none did) and its role (champion, canary; '' for none).",
                         ["handler", "code", "version", "role"]),
        latency=Histogram("lmforge_request_duration_seconds", "Time from a request's first byte to its answer's "
                          "last, by handler and role.", ["handler", "role"], buckets=LATENCY_BUCKETS),
        in_flight=Gauge("lmforge_requests_in_flight", "Requests inside the server now.", multiprocess_mode="livesum"),
        inputs_in_flight=Gauge("lmforge_inputs_in_flight", "Texts of scoring requests inside the server now.",
                               multiprocess_mode="livesum"),
        compute=Histogram("lmforge_model_compute_seconds", "Time of one model call (a batch), by model version.",
                          ["version"], buckets=LATENCY_BUCKETS),
        batch_size=Histogram("lmforge_batch_size_rows", "Texts in one model call, by model version.", ["version"],
                             buckets=BATCH_BUCKETS),
        queue_wait=Histogram("lmforge_batch_queue_wait_seconds", "Time a request waited for its model call to start "
                             "(micro-batching's queue).", buckets=LATENCY_BUCKETS),
        log_written=Counter("lmforge_inference_log_rows_written_total", "Rows written to the inference log."),
        log_not_logged=Counter("lmforge_inference_log_rows_not_logged_total", "Rows the inference log dropped "
                               "(queue full or a failed write)."),
        log_queue=Gauge("lmforge_inference_log_queue_rows", "Rows waiting to be written to the inference log.",
                        multiprocess_mode="livesum"),
        shadow_scored=Counter("lmforge_shadow_scored_total", "Requests the challenger scored aside (shadow)."),
        shadow_skipped=Counter("lmforge_shadow_skipped_total", "Requests the shadow skipped (its queue was full)."),
        canary_share=Gauge("lmforge_canary_share", "Share of callers the challenger answers (0 when rolled back or "
                           "no canary).", multiprocess_mode="livemax"),
        canary_p95=Gauge("lmforge_canary_p95_seconds", "p95 latency of each side of the canary over its recent "
                         "answers: the figure serve.canary's rollback rule compares.", ["role"],
                         multiprocess_mode="livemax"),
        canary_rollbacks=Counter("lmforge_canary_rollbacks_total", "Canaries this server took back."),
        model_info=Gauge("lmforge_model_info", "1 for the version each role serves now (0: served before in this "
                         "worker), with its backend.", ["role", "version", "backend"], multiprocess_mode="liveall"),
        model_version=Gauge("lmforge_model_version", "The version number each role serves (the newest among the "
                            "workers).", ["role"], multiprocess_mode="livemax"),
        ready=Gauge("lmforge_ready", "1 when a model is loaded and its warm-up request passed (/health/ready).",
                    multiprocess_mode="liveall"),
        memory=Gauge("lmforge_process_resident_memory_bytes", "Resident memory of each server process.",
                     multiprocess_mode="liveall"),
    )


@functools.cache
def monitor_metrics() -> SimpleNamespace:
    """The monitor's latest verdict per model version, read from its MLflow runs by the server."""
    from prometheus_client import Gauge

    return SimpleNamespace(
        drift=Gauge("lmforge_monitor_drift", "1 when the latest monitoring run of the version found drift, else 0.",
                    ["model", "version"], multiprocess_mode="livemostrecent"),
        statistic=Gauge("lmforge_monitor_statistic", "Each drift test's statistic in the version's latest "
                        "monitoring run.", ["model", "version", "test"], multiprocess_mode="livemostrecent"),
        p_value=Gauge("lmforge_monitor_p_value", "Each drift test's p-value in the version's latest monitoring run.",
                      ["model", "version", "test"], multiprocess_mode="livemostrecent"),
        rows=Gauge("lmforge_monitor_rows", "Requests the version's latest monitoring run looked at.",
                   ["model", "version"], multiprocess_mode="livemostrecent"),
        last_run=Gauge("lmforge_monitor_last_run_timestamp_seconds", "When the version's latest monitoring run "
                       "started (Unix time).", ["model", "version"], multiprocess_mode="livemostrecent"),
    )


def time_calls(predict, metrics: SimpleNamespace, version: str):
    """`predict`, each call's time and rows observed under the version's labels."""
    import time

    compute, rows = metrics.compute.labels(version), metrics.batch_size.labels(version)

    def timed(texts: list[str]) -> list[dict]:
        started = time.perf_counter()
        answers = predict(texts)
        compute.observe(time.perf_counter() - started)
        rows.observe(len(texts))
        return answers

    return timed

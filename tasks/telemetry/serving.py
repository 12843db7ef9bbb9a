"""What `lmforge serve` adds for Prometheus: the /metrics route, the middleware that counts every answer, and the
process's gauge sampler (with the monitor's verdicts)."""

from __future__ import annotations

from tasks.core.config import Params


def add_metrics(app, params: Params, router, log):
    """The /metrics route; returns the process's sampler for the server's lifespan to start and stop, or None when
    serve.metrics.enabled is off. The counting middleware is added by the caller, last, so it is outermost."""
    if not params.serve.metrics.enabled:
        return None
    from fastapi.responses import Response

    from tasks.telemetry.exposition import render_metrics
    from tasks.telemetry.metrics import monitor_metrics, serve_metrics
    from tasks.telemetry.monitor_gauges import MonitorGauges
    from tasks.telemetry.sampler import ProcessSampler

    sampler = ProcessSampler(serve_metrics(), router, log, params.serve.metrics.sample_s,
                             MonitorGauges(monitor_metrics(), router.champion.client, params))

    def metrics_page():
        sampler.sample()  # this process's gauges as of now; the other workers' are at most sample_s old
        body, content_type = render_metrics()
        return Response(body, media_type=content_type)

    app.add_api_route("/metrics", metrics_page, methods=["GET"])
    return sampler


def count_requests(app, sampler) -> None:
    from tasks.telemetry.http_metrics import RequestMetrics
    from tasks.telemetry.metrics import serve_metrics

    app.add_middleware(RequestMetrics, metrics=serve_metrics(), inside=sampler.inside)

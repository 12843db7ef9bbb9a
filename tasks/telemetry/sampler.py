"""The gauges of one server process, refreshed every serve.metrics.sample_s by a thread of its own (and by a scrape
that reaches this process): queue depths, the versions served, the canary's figures, memory. Counters whose source
keeps its own total (rows the inference log wrote or dropped, the shadow's requests, canaries taken back) advance
by the difference, so they never go backwards."""

from __future__ import annotations

import os
import threading

from tasks.servers.traffic import CANARY, CHAMPION


class ProcessSampler:
    def __init__(self, metrics, router, log, every_s: float, monitor=None):
        """`monitor`: a MonitorGauges to refresh from the same thread (its own, slower, schedule)."""
        self.metrics, self.router, self.log, self.every, self.monitor = metrics, router, log, every_s, monitor
        self.lock, self.stopping = threading.Lock(), threading.Event()
        self.totals: dict[str, float] = {}
        self.inside = {"requests": 0, "texts": 0}  # counted as plain ints by the request path, shown as gauges here
        self.shown: dict[str, tuple[str, str]] = {}  # role -> (version, backend) its info gauge says now

    def start(self) -> ProcessSampler:
        threading.Thread(target=self.run, name="metrics-sampler", daemon=True).start()
        return self

    def run(self) -> None:
        while not self.stopping.wait(self.every):
            self.sample()
            if self.monitor is not None:
                self.monitor.refresh_if_due(self.served_versions())

    def sample(self) -> None:
        with self.lock:
            m = self.metrics
            if self.log is not None:
                status = self.log.status()
                self.advance(m.log_written, "log_written", status["written"])
                self.advance(m.log_not_logged, "log_not_logged", status["not_logged"])
                m.log_queue.set(status["queued"])
            if self.router.shadow is not None:
                status = self.router.shadow.status()
                self.advance(m.shadow_scored, "shadow_scored", status["scored"])
                self.advance(m.shadow_skipped, "shadow_skipped", status["skipped"])
            self.advance(m.canary_rollbacks, "canary_rollbacks", len(self.router.stopped))
            champion = self.router.champion.current
            m.ready.set(1 if champion is not None else 0)
            m.in_flight.set(self.inside["requests"])
            m.inputs_in_flight.set(self.inside["texts"])
            self.show(CHAMPION, champion)
            self.show("challenger", self.router.challenger.current if self.router.challenger else None)
            self.show_canary()
            m.memory.set(resident_bytes())

    def advance(self, counter, key: str, total: float) -> None:
        step = total - self.totals.get(key, 0)
        if step > 0:
            counter.inc(step)
            self.totals[key] = total

    def show(self, role: str, served) -> None:
        now = (served.version, served.backend) if served is not None else None
        if self.shown.get(role) == now:
            return
        if role in self.shown:  # the version served before: 0 (multiprocess files cannot drop one series)
            self.metrics.model_info.labels(role, *self.shown.pop(role)).set(0)
        if now is not None:
            self.metrics.model_info.labels(role, *now).set(1)
            self.shown[role] = now
        self.metrics.model_version.labels(role).set(float(now[0]) if now and now[0].isdigit() else 0)

    def show_canary(self) -> None:
        if self.router.challenger is None:
            self.metrics.canary_share.set(0)
            return
        status = self.router.status()
        self.metrics.canary_share.set(status["canary_share"])
        for role in (CHAMPION, CANARY):
            figures = status["canary_figures"].get(role)
            if figures:
                self.metrics.canary_p95.labels(role).set(figures["p95_ms"] / 1000)

    def served_versions(self) -> list[str]:
        holders = (self.router.champion, self.router.challenger)
        return [holder.current.version for holder in holders if holder is not None and holder.current is not None]

    def stop(self) -> None:
        self.stopping.set()


def resident_bytes() -> int:
    """This process's resident memory: /proc on Linux, else the peak (all the standard library offers)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024

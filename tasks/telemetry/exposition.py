"""/metrics: Prometheus' text format, for one server process or summed over serve.workers processes.

Several processes share one port, so a scrape reaches any one of them: each writes its values to files in
PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess mode) and the one scraped reads them all. uvicorn's
supervisor restarts a worker that dies without telling anyone, so a scrape first drops the live gauges of processes
that no longer exist (their counters stay in the sums).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LIVE_FILE = re.compile(r"^gauge_live\w+_(\d+)\.db$")


def share_between_workers() -> Path:
    """A fresh folder for the workers' values, named in the environment they inherit (before prometheus_client is
    imported by any of them); removed when the command ends."""
    import atexit

    folder = Path(tempfile.mkdtemp(prefix="lmforge-metrics-"))
    os.environ[MULTIPROC_ENV] = str(folder)
    atexit.register(shutil.rmtree, folder, True)
    return folder


def render_metrics() -> tuple[bytes, str]:
    """The exposition of every metric of this server (all its processes), and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    folder = os.environ.get(MULTIPROC_ENV)
    if not folder:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    from prometheus_client import multiprocess

    forget_dead_workers(folder)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=folder)
    return generate_latest(registry), CONTENT_TYPE_LATEST


def forget_dead_workers(folder: str) -> list[int]:
    """Removes the live gauges of processes that have ended (a worker killed, then replaced); returns their pids."""
    from prometheus_client import multiprocess

    dead = sorted({int(found.group(1)) for name in os.listdir(folder) if (found := LIVE_FILE.match(name))
                   and not is_alive(int(found.group(1)))})
    for pid in dead:
        multiprocess.mark_process_dead(pid, folder)
    return dead


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process has the number now: not one of our workers, but alive
        return True
    return True

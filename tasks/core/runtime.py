"""What every entry point shares: environment defaults, the timed Prefect wrapper, `python -m` entries."""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from tasks.core.errors import LmforgeError, explain, redact

# Services of Prefect's temporary server that a local run never uses; they only contend for its SQLite file.
IDLE_PREFECT_SERVICES = ("CANCELLATION_CLEANUP", "DB_VACUUM", "FOREMAN", "LATE_RUNS", "SCHEDULER",
                         "PAUSE_EXPIRATIONS", "REPOSSESSOR", "CLEANUP_RECONCILER", "TRIGGERS", "EVENT_LOGGER")


UI_MARKER = "lmforge-ui.json"  # written by `lmforge ui` in PREFECT_HOME while its servers run


def prefect_home() -> Path:
    return Path(os.environ.get("PREFECT_HOME", ".prefect")).resolve()


def running_ui() -> dict | None:
    """The addresses `lmforge ui` serves for this project, when its process is still alive."""
    import json

    marker = prefect_home() / UI_MARKER
    try:
        found = json.loads(marker.read_text())
        os.kill(found["pid"], 0)
    except (OSError, ValueError, KeyError):
        return None
    return found


def configure_runtime(root: str | Path = ".") -> None:
    """Set defaults the user has not set; call before Prefect, MLflow or transformers are imported.

    While `lmforge ui` runs for this project, runs report to its Prefect server instead of a temporary one.
    """
    root = Path(root).resolve()
    defaults = {
        "PREFECT_HOME": str(root / ".prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(root / ".dvc" / "site-cache"),
        # Loading and saving bars of transformers; the training bar is Trainer's own and stays.
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "MLFLOW_LOGGING_LEVEL": "WARNING",
        # MLflow's own default retries an unanswered request for minutes (7 tries, backoff 2 s, 120 s timeout):
        # a run at 3 a.m. should say within seconds that its tracking server is down.
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
        # Its "View run at <tracking URI>" lines would print the URI's credentials; the summary names the run.
        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # one bar redraw per downloaded file buries the output
        # Every torch.load (Trainer's resume of optimizer, scheduler and RNG state included) unpickles tensors only.
        "TORCH_FORCE_WEIGHTS_ONLY_LOAD": "1",
        "TOKENIZERS_PARALLELISM": "false",
        # cuBLAS's deterministic mode needs a fixed workspace (torch.use_deterministic_algorithms says so on a GPU).
        "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
        "GIT_PYTHON_REFRESH": "quiet",
        "MPLBACKEND": "Agg",
    }
    os.environ.setdefault("PREFECT_HOME", defaults["PREFECT_HOME"])
    ui = running_ui()
    if ui and not os.environ.get("PREFECT_API_URL"):
        os.environ["PREFECT_API_URL"] = ui["prefect_api_url"]
        # A `lmforge ui --host` locked with an auth string: this shell has it as the server's; the client needs it too.
        if os.environ.get("PREFECT_SERVER_API_AUTH_STRING"):
            os.environ.setdefault("PREFECT_API_AUTH_STRING", os.environ["PREFECT_SERVER_API_AUTH_STRING"])
    if not os.environ.get("PREFECT_API_URL"):
        defaults |= {f"PREFECT_SERVER_SERVICES_{name}_ENABLED": "false" for name in IDLE_PREFECT_SERVICES}
    for key, value in defaults.items():
        os.environ.setdefault(key, value)


# Step durations of the flow run in progress; a context variable so that concurrent runs keep theirs apart.
_TIMINGS: ContextVar[dict[str, float] | None] = ContextVar("lmforge_timings", default=None)


@contextmanager
def collect_timings() -> Iterator[dict[str, float]]:
    """Seconds per step for the steps run inside the block."""
    token = _TIMINGS.set({})
    try:
        yield _TIMINGS.get()
    finally:
        _TIMINGS.reset(token)


def record_timing(name: str, seconds: float, outcome: str = "") -> None:
    """A module-level function, so that Prefect's runner can pickle the step wrappers (a ContextVar cannot be)."""
    say(f"[done] {name:<9} {seconds:6.1f} s" + (f": {outcome}" if outcome else ""))
    timings = _TIMINGS.get()
    if timings is not None:
        timings[name] = round(seconds, 2)


def say(line: str) -> None:
    """One progress line on stderr, so stdout stays for results; inside a Prefect run, also in its logs (the UI's)."""
    print(line, file=sys.stderr, flush=True)
    if "prefect" not in sys.modules:  # a DVC stage or a unit test: no Prefect run to log to
        return
    from prefect.context import FlowRunContext, TaskRunContext

    if TaskRunContext.get() or FlowRunContext.get():
        from prefect.logging import get_run_logger

        get_run_logger().info(line)


def step(fn: Callable[..., Any]) -> Any:
    """The thin Prefect wrapper every step shares: a task of the function's name that reports its duration."""
    from prefect import task

    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        from tasks.telemetry import tracing

        if tracing.ON:  # Prefect's span of this task run is the current one: the step's name on it, to query by
            tracing.name_step(fn.__name__)
        start = time.perf_counter()
        try:
            result = fn(*args, **kwargs)
        except Exception as error:
            # Said here, so that Prefect's log of the failure holds the sentence and not a URL with its credentials.
            explained = explain(error, fn.__name__, kept_model(fn.__name__, args))
            if explained is None or explained is error:
                raise
            raise explained from None
        seconds = time.perf_counter() - start
        record_timing(fn.__name__, seconds, result.summary() if hasattr(result, "summary") else "")
        return result

    return task(name=fn.__name__)(timed)


def kept_model(step_name: str, args: tuple) -> str:
    """Where a step after train finds the trained model, which a failure there leaves in place for the next run."""
    if step_name in ("train", "ingest", "validate", "tokenize") or not args or not hasattr(args[0], "paths"):
        return ""
    return args[0].paths.model


def stop_on_sigterm() -> None:
    """SIGTERM stops a run the way Ctrl-C does, so that its clean-up runs: the MLflow run ends FAILED with the signal
    in its `error` tag, Prefect records the flow run's end and the temporary Prefect API stops. Python's default
    would end the process at once, leaving the MLflow run RUNNING."""
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, interrupt)


def run_entry(main: Callable[[Any], Any], argv: list[str] | None = None) -> None:
    """`python -m tasks.<step>` for DVC: load params.yaml, run the core, turn LmforgeError into one line."""
    argv = sys.argv[1:] if argv is None else argv
    configure_runtime()
    from tasks.core.config import load_params
    from tasks.hub.pins import pin_as_resolved

    try:
        # Hub ids pinned to the commit the resolve stage wrote into the resolved params (what dvc.lock records), so
        # that every stage trains and records that commit without asking the Hub again.
        main(pin_as_resolved(load_params(argv[0] if argv else "params.yaml")))
    except Exception as error:
        explained = explain(error, main.__module__)
        if explained is None:
            raise
        say(f"error: {redact(str(explained))}")
        raise SystemExit(1) from None


@contextmanager
def hold_lock(path: str | Path, timeout_s: float) -> Iterator[float]:
    """Run one retrain at a time per project: a second run waits (saying so), then goes on; yields seconds waited."""
    from filelock import FileLock, Timeout

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    lock, start = FileLock(str(path)), time.perf_counter()
    try:
        lock.acquire(timeout=0)
    except Timeout:
        say(f"[wait] another retrain run holds {path}; waiting up to {timeout_s:.0f} s for it to finish")
        try:
            lock.acquire(timeout=timeout_s)
        except Timeout:
            raise LmforgeError(f"another retrain run held {path} for more than {timeout_s:.0f} s; let it finish or "
                               "raise schedule.lock_timeout_s.") from None
    try:
        yield time.perf_counter() - start
    finally:
        lock.release()

"""Shared fixtures: a throwaway lmforge project (DVC repo, params, MLflow store) in a temp folder."""

from __future__ import annotations

import os
from contextlib import contextmanager
import subprocess
from pathlib import Path

import pytest
import yaml

from tasks.servers.prefect_api import free_port
from tests.hub_fixtures import checkpoints, fake_hub, hub_cache  # noqa: F401 - the Hub fixtures, for every test

REPO = Path(__file__).resolve().parents[1]
# transformers reads this once, at import: a unit test that imports it before any `lmforge` command has set it would
# otherwise leave its loading bars in the output the CLI tests read.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

# Small enough for CI's 2 cores, large enough to clear macro F1 0.80 on the builtin reviews (0.84-0.97 seen while the trained tokenizer still varied from process to process).
FAST_PARAMS = {
    "data": {"sample": {"rows": 3000, "seed": 7}},
    "validate": {"min_rows_per_class": 20},
    "train": {"epochs": 20, "early_stopping_patience": 6, "learning_rate": 0.0008, "warmup_steps": 100},
    "registry": {"model_name": "test-reviews"},
}

# The built-in numbers task on the default small encoder-decoder (2+2 layers, d_model 128), less data and epochs.
FAST_PAIRS = {
    "data": {"sample": {"rows": 3000, "seed": 5}, "splits": {"validation": 0.05, "test": 0.1}},
    "tokenize": {"vocab_size": 300},
    "train": {"epochs": 10, "batch_size": 32, "learning_rate": 0.001, "warmup_steps": 200},
    "evaluate": {"num_beams": 2},
    "promote": {"floors": {"bleu": 40}},
    "registry": {"model_name": "test-numbers"},
}


def merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = merge(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


# The gate's serving check starts a server for each promotion (about 10 s of two cores): on where a test checks it
# (tests/flows/test_serving_check.py, test_retrain's first run), off for the rest.
TEST_DEFAULTS = {"promote": {"serving_check": {"enabled": False}}}


def make_project(root: Path, params: dict | None = None, base: str = "params.yaml") -> Path:
    """A project folder like a fresh clone: dvc.yaml, params.yaml (from `base`), a DVC repo with a local remote."""
    from dvc.repo import Repo

    # mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI, which would point this project at the last one's store.
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    root.mkdir(parents=True, exist_ok=True)
    full = merge(merge(yaml.safe_load((REPO / base).read_text()), TEST_DEFAULTS), params or {})
    # dvc.yaml as shipped; lmforge lists the project's params.yaml in pipelines.yaml when it first runs it.
    (root / "dvc.yaml").write_text((REPO / "dvc.yaml").read_text())
    (root / "tasks").symlink_to(REPO / "tasks")
    (root / "data" / "raw").mkdir(parents=True)
    (root / "data" / "raw" / ".gitkeep").touch()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    Repo.init(str(root)).close()
    (root / ".dvc" / "config").write_text((REPO / ".dvc" / "config").read_text())
    (root / ".dvcignore").write_text((REPO / ".dvcignore").read_text())  # run records stay out of output hashes
    (root / "params.yaml").write_text(yaml.safe_dump(full, sort_keys=False))
    return root


def find_os_tool(name: str, variable: str, package: str) -> str:
    """An OS program a test needs (Debian's `package`): skipped without it, unless `variable`=1 (.ci/run, which installs
    it), where its absence is a failure."""
    import shutil

    found = shutil.which(name)
    if not found:
        if os.environ.get(variable) == "1":
            pytest.fail(f"{variable}=1 but no {name} on PATH: apt-get install {package}")
        pytest.skip(f"no {name} on PATH (apt-get install {package}); .ci/run installs it")
    return found


def invoke(*args: str):
    """`lmforge ARGS` in this process, as a user would type it; stderr stays separate from stdout."""
    from typer.testing import CliRunner

    from cli.app import app

    return CliRunner().invoke(app, list(args))


class Interrupted(Exception):
    """Raised inside training to stand for a crash."""


def crash_in_second_epoch(metrics: dict, step: int) -> None:
    """A train on_log that crashes at epoch 2's evaluation, which is logged before epoch 2 is saved: only epoch 1's
    checkpoint is left to resume from."""
    if "val_f1_macro" in metrics and metrics["train_epoch"] >= 2:
        raise Interrupted


def prefect_env(home: Path, api: str | None = None) -> dict[str, str]:
    """This process's environment without its PREFECT_* settings: a Prefect home of its own, and the API given."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    return env | ({"PREFECT_API_URL": api} if api else {})


def start_prefect_server(home: Path, settings: dict[str, str] | None = None,
                         timeout_s: float = 120) -> tuple[subprocess.Popen, str]:
    """A real `prefect server start` (with these PREFECT_* settings) on a free port of 127.0.0.1, answering; its API
    URL. Stop it with os.killpg(server.pid, signal.SIGKILL): it runs in a session of its own."""
    import sys

    from tasks.servers.ui import wait_answer

    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    server = subprocess.Popen([str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1",
                               "--port", str(port)], env=prefect_env(home) | (settings or {}), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    answer = wait_answer(f"{api}/health", server, timeout_s)
    if answer != "answered":
        if server.poll() is None:
            os.killpg(server.pid, 9)
        raise AssertionError(f"prefect server {answer} before answering ({timeout_s:g} s)")
    return server, api


def registry(project: Path):
    """An MlflowClient on a project's own store."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{project / 'mlruns/mlflow.db'}"
    return MlflowClient(uri, uri)


def pytest_configure(config):
    """Under make test's two processes, torch and ONNX Runtime get one thread each, in this process and in every one
    it starts (OMP_NUM_THREADS is inherited): two trainings at once with two threads each on two cores took 288 s
    each, with one thread 30 s (the default project's training, measured side by side)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1 and "OMP_NUM_THREADS" not in os.environ:
        cores = len(os.sched_getaffinity(0))
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(max(1, cores // workers))


def pytest_collection_modifyitems(config, items):
    """Opt-in tiers run only when asked: slow (real data, pretrained weights: LMFORGE_SLOW=1, make test-slow),
    faults (injected faults, minutes each: LMFORGE_FAULTS=1, make test-faults) and scale (several processes or servers:
    LMFORGE_SCALE=1, make test-scale) and matrix (every kind to its threshold, every architecture family from a Hub id,
    DVC's rebuilds from scratch: LMFORGE_MATRIX=1, make test-matrix); .ci/run runs faults, scale and matrix after make
    test."""
    tiers = {"slow": ("LMFORGE_SLOW", "make test-slow"), "faults": ("LMFORGE_FAULTS", "make test-faults"),
             "scale": ("LMFORGE_SCALE", "make test-scale"), "matrix": ("LMFORGE_MATRIX", "make test-matrix")}
    for tier, (variable, command) in tiers.items():
        if os.environ.get(variable) == "1":
            continue
        skip = pytest.mark.skip(reason=f"{tier}: set {variable}=1 ({command})")
        for item in items:
            if tier in item.keywords:
                item.add_marker(skip)
    # Longest files first: make test hands whole files to two processes in this order, so the files that train to a
    # threshold start at once and the short unit files fill the gaps at the end (stable: a file's tests keep order).
    first = {name: rank for rank, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: first.get(f"{item.path.parent.name}/{item.path.name}", len(first)))


# The longest files, longest first (make test's and make test-tiers' durations, 2026-12-07): the files whose module
# fixtures train a model to a threshold or through every family, and the fault and scale tests that hold servers or a
# browser.
LONGEST_FILES = ("flows/test_families_encoders.py", "flows/test_chat.py", "flows/test_dvc_repro.py",
                 "flows/test_families_decoders.py", "flows/test_ui.py", "flows/test_signals.py", "scale/test_loop.py",
                 "flows/test_retrain.py", "flows/test_families_seq2seq.py", "flows/test_seq2seq.py",
                 "unit/test_encoder_families.py", "flows/test_reproduce.py", "flows/test_disk_faults.py",
                 "flows/test_approval.py", "flows/test_tracking_faults.py", "scale/test_shared_stores.py",
                 "flows/test_bad_input.py", "scale/test_prometheus.py", "unit/test_seq2seq_families.py", "scale/test_sweep.py",
                 "unit/test_decoder_families.py", "flows/test_summarize.py", "flows/test_hub_model.py",
                 "flows/test_serving_check.py", "scale/test_distributed.py", "flows/test_causal_lm.py",
                 "flows/test_overlap.py", "flows/test_qa.py", "flows/test_minimal_params.py")


@contextmanager
def working_in(root: Path):
    """chdir for a module-scoped fixture, where monkeypatch (function scope) cannot serve."""
    before = os.getcwd()
    os.chdir(root)
    try:
        yield root
    finally:
        os.chdir(before)


@pytest.fixture(autouse=True)
def offline_env(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    """An empty working directory for a test that writes its own files."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A fresh fast project, the working directory for the test."""
    root = make_project(tmp_path / "project", FAST_PARAMS)
    monkeypatch.chdir(root)
    return root


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect API for the whole session: starting it costs about 20 s."""
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def one_thread():
    """torch and ONNX Runtime on one thread each, for a module of tiny models: they gain nothing from two, and on a
    shared 2-core machine two threads spun against each other (ONNX Runtime's took the cores from the rest of the
    test; tiny models trained about ten times slower)."""
    import torch

    from tasks.registry.backends import limit_session_threads

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with limit_session_threads(1):
        yield
    torch.set_num_threads(before)

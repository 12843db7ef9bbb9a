"""Bad input ends in one sentence naming the file, key or column, exit 1, and an untouched registry."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import invoke, registry

pytestmark = pytest.mark.flow
MODEL = "test-reviews"


def reviews_csv(path, mutate=None):
    from tasks.kinds.classification.builtin import generate_reviews

    frame = generate_reviews(400, seed=11)
    if mutate:
        frame = mutate(frame)
    frame.to_csv(path, index=False)


def null_labels(frame):
    frame.loc[frame.index[:5], "label"] = None
    return frame


def unknown_labels(frame):
    frame.loc[frame.index[:5], "label"] = "great"
    return frame


def few_neutral(frame):
    neutral = frame[frame["label"] == "neutral"]
    return frame.drop(neutral.index[5:])


CASES = {
    "missing file": (None, "absent.csv: no such file"),
    "empty file": (b"", "the file is empty"),
    "header only": (b"text,label\n", "header but no rows"),
    "wrong columns": (b"sentence,label\nthe screen is good,positive\n", "no column 'text'"),
    "non-UTF-8 bytes": (b"text,label\nthe screen is \xff\xfe good,positive\n", "not UTF-8"),
    "label column with nulls": (null_labels, "expect_column_values_to_not_be_null(label)"),
    "labels outside the set": (unknown_labels, "expect_column_values_to_be_in_set(label)"),
    "class below minimum": (few_neutral, "expect_column_values_to_be_between(count)"),
}


@pytest.fixture(scope="module")
def baseline(prefect_harness, tmp_path_factory):
    """A project whose registry already holds version 1 @challenger."""
    from tests.conftest import FAST_PARAMS, make_project, working_in

    with working_in(make_project(tmp_path_factory.mktemp("bad") / "project", FAST_PARAMS)) as root:
        result = invoke("run", "--set", "train.max_steps=5")
        assert result.exit_code == 0, result.output
        yield root


def runs(client):
    return client.search_runs(client.get_experiment_by_name("lmforge").experiment_id, order_by=["attributes.start_time DESC"])


def assert_refused(root, args, expected, records_failed_run, model=MODEL):
    """Run `lmforge ARGS`; it must fail in one sentence and leave the registry as it was."""
    client = registry(root)
    before = len(runs(client))
    result = invoke(*args)
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expected in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert [str(v.version) for v in client.search_model_versions(f"name='{model}'")] == ["1"]
    assert str(client.get_model_version_by_alias(model, "challenger").version) == "1"
    after = runs(client)
    # Data errors are found inside the flow and recorded as a failed run; params errors stop before it starts.
    assert len(after) == before + records_failed_run
    if records_failed_run:
        assert after[0].info.status == "FAILED" and after[0].data.tags["error"]


@pytest.mark.parametrize("case", list(CASES))
def test_bad_source(baseline, monkeypatch, case):
    monkeypatch.chdir(baseline)
    content, expected = CASES[case]
    source = baseline / ("absent.csv" if content is None else f"{case.replace(' ', '_')}.csv")
    if isinstance(content, bytes):
        source.write_bytes(content)
    elif callable(content):
        reviews_csv(source, content)
    assert_refused(baseline, ["run", "--set", f"data.source={source.name}"], expected, records_failed_run=True)


@pytest.mark.parametrize("override, expected", [
    ("data.sourse=x.csv", "data.sourse is not a known key"),
    ("train.epochs=many", "--set: train.epochs is invalid"),
    ("model.pretrained=no/such/folder", "model.pretrained is invalid: 'no/such/folder' does not exist"),
    ("model.pretrained=data/raw", "model.pretrained is invalid: 'data/raw' holds no config.json"),
    ("promote.floors={f1_mixed: 0.5}", "--set: promote.floors is invalid: 'f1_mixed' is not a metric"),
    ("promote.significance.test=ttest", "--set: promote.significance.test is invalid"),
])
def test_bad_params(baseline, monkeypatch, override, expected):
    monkeypatch.chdir(baseline)
    assert_refused(baseline, ["run", "--set", override], expected, records_failed_run=False)


def test_bad_params_file(baseline, monkeypatch):
    monkeypatch.chdir(baseline)
    (baseline / "typo.yaml").write_text("data:\n  sorce: x.csv\n")
    assert_refused(baseline, ["run", "--params", "typo.yaml"], "typo.yaml: data.sorce is not a known key",
                   records_failed_run=False)


@pytest.mark.parametrize("args, expected", [
    (["promote", "7", "--reason", "typo"], "test-reviews has no version 7"),
    (["rollback"], "test-reviews has no @champion to roll back"),  # version 1 was rejected: below the floor
    (["models", "--set", "promote.primary_metric=f2"], "--set: promote.primary_metric is invalid"),
    (["schedule"], "give exactly one of --cron"),
    (["schedule", "--cron", "0 3 * * *"], "schedules need a Prefect server"),
])
def test_bad_registry_and_schedule_commands(baseline, monkeypatch, args, expected):
    monkeypatch.chdir(baseline)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert_refused(baseline, args, expected, records_failed_run=False)


def test_ui_refuses_a_busy_port(baseline, monkeypatch):
    import socket

    monkeypatch.chdir(baseline)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        assert_refused(baseline, ["ui", "--prefect-port", port], f"port {port} on 127.0.0.1 is already in use",
                       records_failed_run=False)


@pytest.mark.parametrize("override", ["data.source=absent.csv", "train.epochs=many"])
def test_console_shows_one_sentence_and_no_traceback(tmp_path, override):
    """As a user sees it: a real process, with Prefect's own temporary server for the data error."""
    from tests.conftest import FAST_PARAMS, make_project

    root = make_project(tmp_path / "project", FAST_PARAMS)
    done = subprocess.run([sys.executable, "-m", "cli", "run", "--set", override], cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    assert [line for line in done.stderr.splitlines() if line.startswith("error:")], done.stderr

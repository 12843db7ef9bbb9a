"""Serve runs only what the gate passed: on a real MLflow store with a tiny registered classifier, a version without
a promotion record, an alias moved outside lmforge, a model code file changed in the artifact store (never executed)
and an export file changed after its parity check are refused, and the server says why."""

import json
from pathlib import Path

import pytest

from tasks.core.config import load_params
from tasks.core.errors import LmforgeError
from tasks.registry import tracking
from tasks.registry.champion import promote_by_hand
from tests.conftest import REPO

NAME = "unit-gate"


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    """An untrained 1-layer BERT classifier (no training: these tests load it, never judge it), made once."""
    from tests.serving import tiny_classifier

    return tiny_classifier(tmp_path_factory.mktemp("gate") / "model")


@pytest.fixture
def store(tmp_path, monkeypatch, model_folder):
    """A project's MLflow store in tmp_path; `register()` adds a version as `lmforge run` does (challenger alias)."""
    from tests.serving import register_tiny

    monkeypatch.chdir(tmp_path)
    params = load_params(REPO / "params.yaml", [f"registry.model_name={NAME}", "monitor.log=false",
                                                "serve.refresh_s=0.01", "serve.batch.max_size=1"])
    client = tracking.client(params)

    def register() -> str:
        return register_tiny(params, model_folder, tmp_path)
    return params, client, register


def stored_model(client, version: str) -> Path:
    """The version's model folder in the (local) artifact store itself."""
    return Path(client.get_model_version_download_uri(NAME, version).removeprefix("file://"))


def holder_of(params, alias: str = "champion", pinned: str | None = None):
    """A champion holder whose loader only records what it was asked to load."""
    from tasks.servers.holders import Served, VersionHolder

    loaded = []

    def load(params, version, threads):
        loaded.append(str(version.version))
        return Served(str(version.version), "eager", lambda texts: [])
    return VersionHolder(params, load, alias, pinned), loaded


def test_a_version_without_a_promotion_record_is_refused_and_ping_says_why(store):
    from fastapi.testclient import TestClient

    from tasks.serve import build_app

    params, client, register = store
    register()
    client.set_registered_model_alias(NAME, "champion", "1")  # by hand: no verdict, no history
    app, holder = build_app(params)
    with TestClient(app) as http:
        ping = http.get("/ping")
        assert ping.status_code == 503, ping.json()
        assert ping.json()["refused"]["version"] == "1"
        assert "without a promotion record" in ping.json()["refused"]["reason"], ping.json()
        assert http.post("/invocations", json={"inputs": ["fine"]}).status_code == 503
        promote_by_hand(client, params, "1", "released")  # recorded: served from the next check on
        ping = http.get("/ping")
        assert ping.status_code == 200 and ping.json()["model_version"] == "1" and ping.json()["refused"] is None
        # No export of serve.backend (onnx): eager, and it says why.
        assert ping.json()["backend"] == "eager" and "no onnx export" in ping.json()["fallback"], ping.json()
        answer = http.post("/invocations", json={"inputs": ["fine"]})
        assert answer.status_code == 200 and answer.json()["model_version"] == "1"
    assert holder.current is None  # the server's shutdown closed it, and removed its checked copy


def test_an_alias_moved_outside_lmforge_is_refused_once_and_the_champion_keeps_answering(store, capsys):
    params, client, register = store
    register(), register()
    promote_by_hand(client, params, "1", "released")
    holder, loaded = holder_of(params)
    assert holder.get().version == "1" and loaded == ["1"]
    # The alias set in the MLflow UI, with a verdict tag copied too: the champion history was not written.
    client.set_model_version_tag(NAME, "2", "promotion_verdict", "promoted")
    client.set_registered_model_alias(NAME, "champion", "2")
    for _ in range(3):
        holder.checked = float("-inf")
        assert holder.get().version == "1"
    assert loaded == ["1"] and holder.refused["version"] == "2"
    assert "moved to version 2 outside lmforge" in holder.refused["reason"], holder.refused
    assert capsys.readouterr().err.count("version 2 (@champion) is not served") == 1
    # `lmforge promote 2` records the move the UI made: served from the next check.
    assert promote_by_hand(client, params, "2", "recorded")["champion_before"] == "1"
    holder.checked = float("-inf")
    assert holder.get().version == "2" and loaded == ["1", "2"] and holder.refused is None
    # A challenger alias needs lmforge's registration record.
    client.delete_model_version_tag(NAME, "2", "validation_success")
    from tasks.servers.admissible import check_promotion

    reason = check_promotion(client, params, client.get_model_version(NAME, "2"), "challenger")
    assert "without lmforge's registration record" in reason
    assert check_promotion(client, params, client.get_model_version(NAME, "1"), "challenger") is None


def test_a_code_file_changed_in_the_store_is_refused_and_never_executed(store, tmp_path):
    from tasks.serve import load_served
    from tasks.servers.admissible import check_code_folder, fetch_checked_model

    params, client, register = store
    register()
    promote_by_hand(client, params, "1", "released")
    marker = tmp_path / "executed"
    code = stored_model(client, "1") / "classifier.py"
    code.write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n" + code.read_text())
    holder, _ = holder_of(params)
    holder.load = lambda params, version, threads: load_served(params, version)  # the real loader, were it reached
    with pytest.raises(LmforgeError, match="classifier.py differs from this lmforge's own"):
        holder.get()
    assert holder.refused["version"] == "1" and not marker.exists()
    # Changed after the check, before the load: the copy that would run is checked again.
    with pytest.raises(LmforgeError, match="differs from this lmforge's own"):
        fetch_checked_model(client, params, client.get_model_version(NAME, "1"))
    assert not marker.exists()
    # A pinned version (`lmforge serve --model 1`, the gate's serving check) skips the promotion record, not this.
    pinned, _ = holder_of(params, pinned="1")
    with pytest.raises(LmforgeError, match="differs"):
        pinned.get()
    # Nor may MLmodel send MLflow to other code: another loader, a pickle, a code path.
    mlmodel = stored_model(client, "1") / "MLmodel"
    for before, after in (("mlflow.pyfunc.loaders.code_model", "evil"), ("model_code_path:", "python_model:"),
                          ("code: null", "code: code")):
        original = mlmodel.read_text()
        mlmodel.write_text(original.replace(before, after))
        code.write_text((Path(REPO) / "tasks/model_code/classifier.py").read_text())
        assert check_code_folder(mlmodel.parent) is not None, after
        mlmodel.write_text(original)
    assert check_code_folder(mlmodel.parent) is None


def test_an_export_file_changed_after_its_parity_check_is_not_served(store, tmp_path, capsys):
    from tasks.registry.registered import HASHES_KEY, PARITY_FILE, fetch_run_export, hash_folder
    from tasks.serve import load_served

    params, client, register = store
    register()
    run_id = client.get_model_version(NAME, "1").run_id
    export = tmp_path / "export"
    export.mkdir()
    (export / "model.onnx").write_bytes(b"onnx bytes")
    (export / "tokenizer.json").write_text("{}")
    parity = {"onnx": {"status": "passed", "files": ["model.onnx"]}}
    (export / PARITY_FILE).write_text(json.dumps(parity))  # as an earlier lmforge wrote it: no hashes
    client.log_artifacts(run_id, str(export), "export")
    with pytest.raises(LmforgeError, match="holds no file hashes"):
        fetch_run_export(client, run_id, "onnx")
    (export / PARITY_FILE).write_text(json.dumps(parity | {HASHES_KEY: hash_folder(export)}))
    client.log_artifacts(run_id, str(export), "export")
    assert (fetch_run_export(client, run_id, "onnx") / "model.onnx").read_bytes() == b"onnx bytes"
    stored = Path(client.get_run(run_id).info.artifact_uri.removeprefix("file://")) / "export"
    (stored / "model.onnx").write_bytes(b"other bytes")
    with pytest.raises(LmforgeError, match="export/model.onnx is not the file its parity check passed"):
        fetch_run_export(client, run_id, "onnx")
    (stored / "model.onnx").write_bytes(b"onnx bytes")
    (stored / "extra.py").write_text("")
    with pytest.raises(LmforgeError, match="export/extra.py is not in its parity record"):
        fetch_run_export(client, run_id, "onnx")
    (stored / "extra.py").unlink()
    (stored / "model.onnx").write_bytes(b"other bytes")
    served = load_served(params, client.get_model_version(NAME, "1"))  # serve.backend onnx: eager, saying why
    assert served.backend == "eager" and "sha256 differs" in served.fallback, served.fallback
    assert "version 1 runs eager" in capsys.readouterr().err
    served.close()

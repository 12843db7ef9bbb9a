"""`lmforge ui` keeps the tracking URI (which may hold a password) off the servers' command lines, which every user
of the machine reads in ps, and out of the marker file other lmforge processes read."""

from __future__ import annotations

import json
import os
import stat

from tasks.core.config import Params

SECRET_URI = "postgresql://ana:s3cret@db.example.org:5432/mlflow"


def test_the_store_uri_goes_by_environment_never_on_a_command_line(monkeypatch, tmp_path):
    from tasks.servers.ui import server_commands

    monkeypatch.setenv("MLFLOW_TRACKING_URI", SECRET_URI)
    params = Params.model_validate({"registry": {"artifact_location": str(tmp_path / "artifacts")}})
    (prefect, prefect_env), (mlflow, mlflow_env) = server_commands(params, 4300, 5100, dict(os.environ))
    assert not any("s3cret" in part or "db.example.org" in part for part in prefect + mlflow), prefect + mlflow
    assert "--backend-store-uri" not in mlflow and "--artifacts-destination" not in mlflow
    assert mlflow_env["MLFLOW_BACKEND_STORE_URI"] == SECRET_URI
    assert mlflow_env["MLFLOW_ARTIFACTS_DESTINATION"] == (tmp_path / "artifacts").resolve().as_uri()
    assert "MLFLOW_BACKEND_STORE_URI" not in prefect_env  # the Prefect server has no use for it
    assert prefect_env["PREFECT_SERVER_API_PORT"] == "4300" and "--port" in mlflow and "5100" in mlflow


def test_the_marker_holds_addresses_and_a_pid_no_store_uri_and_only_its_owner_reads_it(monkeypatch, tmp_path):
    from tasks.core.runtime import running_ui
    from tasks.servers.ui import write_marker

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    old = os.umask(0o000)  # the mode must not depend on the user's umask
    try:
        marker = write_marker({"prefect_ui": "http://127.0.0.1:4300", "prefect_api_url": "http://127.0.0.1:4300/api",
                               "mlflow_ui": "http://127.0.0.1:5100", "tracking_uri": SECRET_URI})
    finally:
        os.umask(old)
    assert "s3cret" not in marker.read_text() and "tracking_uri" not in json.loads(marker.read_text())
    assert stat.S_IMODE(marker.stat().st_mode) == 0o600
    assert running_ui()["prefect_api_url"] == "http://127.0.0.1:4300/api"  # its reader still finds what it needs


def test_beyond_loopback_both_servers_are_locked_or_not_started(monkeypatch, tmp_path):
    import pytest

    from tasks.core.errors import LmforgeError
    from tasks.servers.ui import server_commands

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    params = Params.model_validate({"registry": {"artifact_location": str(tmp_path / "artifacts")}})
    with pytest.raises(LmforgeError, match="listening on 0.0.0.0 needs authentication"):
        server_commands(params, 4300, 5100, {}, "0.0.0.0")
    secrets = {"MLFLOW_AUTH_ADMIN_PASSWORD": "a-pass", "MLFLOW_FLASK_SERVER_SECRET_KEY": "k",
               "PREFECT_SERVER_API_AUTH_STRING": "ops:p-pass"}
    (prefect, prefect_env), (mlflow, mlflow_env) = server_commands(params, 4300, 5100, secrets, "0.0.0.0")
    assert mlflow[mlflow.index("--app-name") + 1] == "basic-auth" and "0.0.0.0" in mlflow
    config = mlflow_env["MLFLOW_AUTH_CONFIG_PATH"]
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600 and "a-pass" not in open(config).read()
    assert prefect_env["PREFECT_SERVER_API_AUTH_STRING"] == "ops:p-pass"
    assert prefect_env["PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED"] == "true"
    assert prefect_env["PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS"].endswith(":4300")
    assert not any("p-pass" in part or "a-pass" in part for part in prefect + mlflow)
    (_, loopback_env), (plain, _) = server_commands(params, 4300, 5100, {}, "127.0.0.1")
    assert "--app-name" not in plain and "PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED" not in loopback_env

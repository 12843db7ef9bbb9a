"""The MLflow and Prefect servers' own authentication, turned on whenever they listen beyond loopback.

MLflow: its basic-auth app (`mlflow server --app-name basic-auth`): users with passwords, permissions per experiment
and registered model, the admin created on first start from MLFLOW_AUTH_ADMIN_PASSWORD. Prefect: the server's
PREFECT_SERVER_API_AUTH_STRING, with CSRF protection on and CORS limited to the UI's own origin. Nothing here is
home-made: lmforge only refuses to open either door without its lock, and passes the secrets by environment.
"""

from __future__ import annotations

import os
from pathlib import Path

from tasks.core.errors import LmforgeError
from tasks.servers.auth import LOOPBACK

MLFLOW_NEEDS = ("MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY")
PREFECT_NEEDS = ("PREFECT_SERVER_API_AUTH_STRING",)


def beyond_loopback(host: str) -> bool:
    return host not in LOOPBACK


def check_locks(host: str, env: dict[str, str] | None = None) -> None:
    """Refuse to open a server on `host` beyond loopback while a secret its authentication needs is unset."""
    env = os.environ if env is None else env
    missing = [name for name in (*MLFLOW_NEEDS, *PREFECT_NEEDS) if not env.get(name)]
    if beyond_loopback(host) and missing:
        raise LmforgeError(f"listening on {host} needs authentication, and {', '.join(missing)} "
                           f"{'is' if len(missing) == 1 else 'are'} not set: set {' and '.join(missing)} (see the "
                           "security section of docs/operations.md), or listen on 127.0.0.1.")
    if beyond_loopback(host) and ":" not in env["PREFECT_SERVER_API_AUTH_STRING"]:
        raise LmforgeError("PREFECT_SERVER_API_AUTH_STRING must be USER:PASSWORD (Prefect's basic authentication).")


def mlflow_auth(folder: Path, database_uri: str | None = None) -> tuple[list[str], dict[str, str]]:
    """The `mlflow server` arguments and environment of its basic-auth app: the users and permissions live in
    `database_uri` (default a SQLite file in `folder`), its config file written 0600 (no password in it: the admin's
    comes from MLFLOW_AUTH_ADMIN_PASSWORD on first start)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "basic_auth.ini"
    uri = database_uri or f"sqlite:///{(folder / 'basic_auth.db').resolve()}"
    text = (f"[mlflow]\ndefault_permission = READ\ndatabase_uri = {uri}\nadmin_username = admin\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
    from tasks.core.private_files import write_private

    write_private(config, text, replace=True)
    return ["--app-name", "basic-auth"], {"MLFLOW_AUTH_CONFIG_PATH": str(config)}


def prefect_auth(ui_origin: str) -> dict[str, str]:
    """The Prefect server's settings beside its auth string (which stays in the environment it came from)."""
    return {"PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED": "true",
            "PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS": ui_origin}

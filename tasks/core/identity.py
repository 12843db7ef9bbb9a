"""Who is acting: the identity a server authenticated, never a name someone typed.

Against an MLflow tracking server with its basic-auth app, the identity is the user the server says the request
came from (`/api/2.0/mlflow/users/current`, asked with MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD): a
wrong password is refused by the server, not believed. On a local store the operating system authenticated the
account the process runs as (its uid, not the $USER variable, which anyone can set).
"""

from __future__ import annotations

import os

from tasks.core.errors import LmforgeError


def local_identity() -> str:
    import pwd

    try:
        return f"local:{pwd.getpwuid(os.getuid()).pw_name}"
    except KeyError:  # a uid without a passwd entry (some containers)
        return f"local:uid{os.getuid()}"


def mlflow_identity(tracking_uri: str, timeout_s: float = 10) -> str | None:
    """The user the tracking server authenticated for this process's credentials; None when the server has no
    authentication (no basic-auth app) or no credentials are set."""
    import base64
    import json
    import urllib.error
    import urllib.request

    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD", "")
    if not user:
        return None
    request = urllib.request.Request(tracking_uri.rstrip("/") + "/api/2.0/mlflow/users/current")
    request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            return f"mlflow:{json.loads(answer.read())['user']['username']}"
    except urllib.error.HTTPError as error:
        if error.code == 404:  # a server without the auth app: nobody is authenticated there
            return None
        raise LmforgeError(f"the tracking server refused MLFLOW_TRACKING_USERNAME {user!r} (HTTP {error.code}); check "
                           "the user and MLFLOW_TRACKING_PASSWORD.") from None
    except (OSError, ValueError, KeyError) as error:
        raise LmforgeError(f"the tracking server did not say who {user!r} is ({type(error).__name__}); check "
                           "MLFLOW_TRACKING_URI.") from None


def current_identity(tracking_uri: str) -> str:
    """The identity this process acts as: the tracking server's authenticated user, else the local account."""
    if tracking_uri.startswith(("http://", "https://")):
        found = mlflow_identity(tracking_uri)
        if found:
            return found
    return local_identity()

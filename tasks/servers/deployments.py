"""The Prefect deployments of the retrain flow: `lmforge schedule` serves one by a name prefect.yaml must not
declare, or the two would take one deployment (retrain/NAME) from each other."""

from __future__ import annotations

from pathlib import Path

from tasks.core.errors import LmforgeError


def check_undeclared(deployment: str, declared_in: Path = Path("prefect.yaml")) -> None:
    """`lmforge schedule` would take over a deployment prefect.yaml declares for the retrain flow (the same
    retrain/NAME), and `prefect deploy` would take it back: refuse the name."""
    import yaml

    if not declared_in.is_file():
        return
    declared = {item.get("name") for item in (yaml.safe_load(declared_in.read_text()) or {}).get("deployments") or []
                if str(item.get("entrypoint", "")).endswith(":retrain")}
    if deployment in declared:
        raise LmforgeError(f"retrain/{deployment} is the deployment {declared_in} declares for a work pool; give "
                           "`lmforge schedule` another name (--name, or schedule.name in the params file).")

"""A registered version as lmforge uses it: its pyfunc, loaded by URI, and its exports as they sit on its MLflow run
(under export/), fetched for one backend only when its parity check passed: what `lmforge predict --backend`, the
registered pyfuncs, promote and `lmforge serve` run."""

from __future__ import annotations

from pathlib import Path

from tasks.core.config import Params
from tasks.core.errors import LmforgeError, redact, redact_error

PARITY_FILE = "parity.json"  # the export step's record: one verdict per backend
# parity.json's key of {path in export/: sha256} over every exported file: what a server checks before it loads one,
# so that a file changed in the artifact store after the parity check is never served.
HASHES_KEY = "sha256"
UNHASHED = (PARITY_FILE, "run.json")  # the record itself, and the run record of timings written after it


def load_registered(params: Params, model_uri: str):
    """The pyfunc model at `model_uri` (models:/name@alias, runs:/..., a path): tasks.kinds.classification.model's Classifier,
    or tasks.kinds.seq2seq.model's Translator."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from tasks.registry import tracking

    tracking.client(params)
    try:
        return mlflow.pyfunc.load_model(model_uri)
    except MlflowException as error:
        hint = " (no champion yet? try --model models:/NAME@challenger)" if "@" in model_uri else ""
        raise LmforgeError(f"cannot load {model_uri} from {redact(tracking.tracking_uri(params))}{hint} "
                           f"({redact_error(error, 160)}); run `lmforge run` first or check --model.") from None


def download_export(client, run_id: str, backend: str) -> Path:
    """The run's export/ files that `backend` needs (parity.json first; no other backend's model file), in a new
    temporary folder; a run never exported gives a folder without parity.json."""
    import tempfile

    from mlflow.exceptions import MlflowException

    from tasks.registry.backends import BACKENDS, export_files
    target = Path(tempfile.mkdtemp(prefix="lmforge-export-"))
    others = set().union(*(export_files(name) for name in BACKENDS if name != backend)) - export_files(backend)
    try:
        client.download_artifacts(run_id, f"export/{PARITY_FILE}", str(target))
        for item in client.list_artifacts(run_id, "export"):
            if Path(item.path).name not in others | {PARITY_FILE}:
                client.download_artifacts(run_id, item.path, str(target))
    except (MlflowException, OSError):
        pass  # never exported, or not completely: the parity check below refuses it
    return target  # a file downloaded by its path lands in the folder itself, not under export/


def fetch_run_export(client, run_id: str, backend: str) -> Path:
    """The files `backend` needs from a model's MLflow run, downloaded, when its export passed the parity check;
    else one sentence naming the registered version."""
    import json

    from tasks.registry.backends import BACKEND_FILES
    local = download_export(client, run_id, backend)
    parity = json.loads((local / PARITY_FILE).read_text()) if (local / PARITY_FILE).is_file() else {}
    status = parity.get(backend, {}).get("status")
    files = parity.get(backend, {}).get("files") or [BACKEND_FILES.get(backend, backend)]  # older records name none
    passed = status == "passed" and all((local / name).is_file() for name in files)
    changed = check_hashes(local, parity.get(HASHES_KEY)) if passed else None
    if not passed or changed:
        found = client.search_model_versions(f"run_id='{run_id}'")
        what, number = (f"{found[0].name} version {found[0].version}", found[0].version) if found else \
            (f"the model of run {run_id}", "VERSION")
        why = f"its {backend} export is not used: {changed}" if changed else \
            f"has no {backend} export that passed its parity check ({status or 'none'})"
        raise LmforgeError(f"{what} {why}; run `lmforge export {number}`, or use the eager backend.")
    return local


def hash_file(path: str | Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hash_folder(folder: str | Path) -> dict[str, str]:
    """{path relative to `folder`: sha256} of every file in it but the records (export writes these to parity.json)."""
    folder = Path(folder)
    return {path.relative_to(folder).as_posix(): hash_file(path) for path in sorted(folder.rglob("*"))
            if path.is_file() and path.relative_to(folder).as_posix() not in UNHASHED}


def check_hashes(folder: str | Path, recorded: dict | None) -> str | None:
    """Why the files in `folder` (an export as downloaded) are not the ones the parity check passed, or None: each
    must have its sha256 in the record and match it. An export made before records held hashes is not trusted."""
    if not recorded:
        return "its parity record holds no file hashes (exported by an earlier lmforge)"
    for name, digest in hash_folder(folder).items():
        if name not in recorded:
            return f"export/{name} is not in its parity record"
        if recorded[name] != digest:
            return f"export/{name} is not the file its parity check passed (sha256 differs)"
    return None

"""Whether `lmforge serve` may load a registered version: serve runs only what the gate passed.

Whoever can write to the registry could otherwise decide what runs: a models-from-code version executes its Python
file from the artifact store when MLflow loads it. So before anything from the store is imported, a version must show
(a) how it got its alias: @champion a promotion record (the gate's verdict, `lmforge promote` or `lmforge rollback`)
and the alias move itself recorded (the champion history ends with it: an alias moved in the MLflow UI is refused);
@challenger the registration lmforge makes only after validation passed; (b) a model code file byte for byte one of
this lmforge's own (tasks/model_code/, or the file an earlier release logged, which still loads through
tasks/registry/moved.py), with nothing else MLflow would import or unpickle. Exports are checked against the hashes
of their parity record where they are fetched (tasks/registry/registered.py fetch_run_export).
Each check returns a reason (one sentence, no full stop) or None.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml

from tasks.core.config import Params
from tasks.core.errors import LmforgeError
from tasks.registry.registered import hash_file

MODEL_CODE = Path(__file__).parents[1] / "model_code"
# The models-from-code files earlier releases logged (tasks/model_code/*.py before each kind became a package): their
# versions still load, their imports answered by tasks/registry/moved.py.
EARLIER_CODE = {
    "answerer.py": "0f34dfaf779b966a3ae50db5caace21dc4a7e5fadf8d5af4847b8dc6958c0915",
    "classifier.py": "d3bb1520a9feed1cf799c96d24f245445a5ad8196e5c318c74085aeedf86d996",
    "language_model.py": "35b25e63f2f6b3fb0f3fe6ba990f41c41c65435742cead7c454c62b27aa48cce",
    "translator.py": "01c68951d9528ff6ce09066dec3bb43aa1cf453b695ed6282a4e793c9e419ce4",
}
# MLflow's loaders of a models-from-code pyfunc (MLflow 3, and 2.x's); any other would import a module of its choice.
CODE_LOADERS = ("mlflow.pyfunc.loaders.code_model", "mlflow.pyfunc.model")
# The verdicts record_decision writes when @champion moves to the version (tasks/registry/champion.py).
CHAMPION_VERDICTS = ("promoted", "promoted by hand", "restored by rollback")


def check_promotion(client, params: Params, version, alias: str) -> str | None:
    """(a): the version's record of getting `alias` (a registry ModelVersion), from the registry's tags."""
    from tasks.registry.champion import champion_history

    tags, number = version.tags, str(version.version)
    if alias != params.registry.champion_alias:
        # register aliases each new version as challenger, after validation passed, with its lineage tags.
        if tags.get("validation_success") != "true" or tags.get("run_id") != version.run_id:
            return (f"version {number} holds @{alias} without lmforge's registration record (validation_success, "
                    "run_id tags): it was not registered by `lmforge run`")
        return None
    verdict = tags.get("promotion_verdict")
    if verdict not in CHAMPION_VERDICTS:
        return (f"version {number} holds @{alias} without a promotion record (promotion_verdict "
                f"{verdict or 'none'}); promote it with `lmforge promote {number} --reason TEXT`")
    history = champion_history(client, params.registry.model_name)
    if not history or history[-1] != number:
        return (f"@{alias} was moved to version {number} outside lmforge (the champion history ends with "
                f"{history[-1] if history else 'nothing'}); move it with `lmforge promote {number} --reason TEXT`")
    return None


def check_code_folder(folder: str | Path) -> str | None:
    """(b) on a downloaded model folder (its MLmodel and code file at least): the pyfunc runs one of lmforge's own
    model code files, and MLflow is given nothing else to import, unpickle or look for outside the folder."""
    folder = Path(folder)
    try:
        flavors = yaml.safe_load((folder / "MLmodel").read_text())["flavors"]
        conf = flavors["python_function"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return "its MLmodel file is missing or has no python_function flavour"
    if conf.get("loader_module") not in CODE_LOADERS or not conf.get("model_code_path"):
        return (f"it is not an lmforge models-from-code pyfunc (loader {conf.get('loader_module')!r}, model code "
                f"{conf.get('model_code_path')!r}): MLflow would import or unpickle something else")
    if conf.get("code") or conf.get("data"):
        return "its MLmodel adds code or data paths that lmforge never logs"
    for artifact in (conf.get("artifacts") or {}).values():
        relative = str((artifact or {}).get("path", ""))
        if Path(relative).is_absolute() or ".." in Path(relative).parts:
            return f"its MLmodel points an artifact outside the model ({relative})"
    name = Path(str(conf["model_code_path"])).name
    ours = MODEL_CODE / name
    if name == "__init__.py" or not ours.is_file():
        return f"its model code file {name} is not one of lmforge's (tasks/model_code/)"
    if not (folder / name).is_file():
        return f"its model code file {name} is missing from the artifact store"
    found = hash_file(folder / name)
    if found not in (hash_file(ours), EARLIER_CODE.get(name)):
        return (f"its model code file {name} differs from this lmforge's own (sha256 {found[:12]}...): it was "
                "changed in the artifact store")
    return None


def download_uri(client, params: Params, version) -> str:
    return client.get_model_version_download_uri(params.registry.model_name, str(version.version))


def check_model_code(client, params: Params, version) -> str | None:
    """(b) before the model itself is downloaded: its MLmodel and code file only, into a temporary folder."""
    import mlflow.artifacts

    root = download_uri(client, params, version)
    with tempfile.TemporaryDirectory(prefix="lmforge-code-") as folder:
        try:
            mlflow.artifacts.download_artifacts(artifact_uri=f"{root}/MLmodel", dst_path=folder)
            conf = yaml.safe_load((Path(folder) / "MLmodel").read_text())["flavors"]["python_function"]
            code = Path(str(conf.get("model_code_path") or "")).name
            if code and code not in (".", ".."):
                mlflow.artifacts.download_artifacts(artifact_uri=f"{root}/{code}", dst_path=folder)
        except Exception:  # noqa: BLE001 - missing or unreadable: check_code_folder names what is wrong
            pass
        return check_code_folder(folder)


def fetch_checked_model(client, params: Params, version) -> tuple[Path, Path]:
    """(a scratch folder of its own, the model folder inside it): the whole model, downloaded once, its code checked
    again in this very copy (the store may have changed since check_model_code): what mlflow.pyfunc.load_model then
    loads. The caller removes the scratch folder when the model is done with."""
    import shutil

    import mlflow.artifacts

    target = Path(tempfile.mkdtemp(prefix=f"lmforge-v{version.version}-"))
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=download_uri(client, params, version),
                                                     dst_path=str(target)))
    reason = check_code_folder(local)
    if reason:
        shutil.rmtree(target, ignore_errors=True)
        raise LmforgeError(f"version {version.version} is not served: {reason}.")
    return target, local

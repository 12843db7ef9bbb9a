"""DVC: record a stage's outputs in dvc.lock and the cache, read their content hash, push to the remote."""

from __future__ import annotations

from pathlib import Path

import yaml

from tasks.errors import LmforgeError


def open_repo(root: str | Path = "."):
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo

    try:
        return Repo(str(Path(root).resolve()))
    except NotDvcRepoError:
        raise LmforgeError(f"{Path(root).resolve()}: not a DVC repository; run lmforge from the project root "
                           "(the folder with dvc.yaml) or run `dvc init` there.") from None


def read_out_hash(out_path: str, root: str | Path = ".") -> str:
    """The content hash dvc.lock records for `out_path` (a folder's hash ends in .dir)."""
    lock = Path(root) / "dvc.lock"
    stages = yaml.safe_load(lock.read_text()).get("stages", {}) if lock.is_file() else {}
    for stage in stages.values():
        for out in stage.get("outs", []):
            if out["path"].rstrip("/") == out_path.rstrip("/"):
                return out["md5"]
    raise LmforgeError(f"dvc.lock: no recorded output {out_path}; run `dvc repro ingest` or `lmforge run` first.")


def version_output(params, record: bool, root: str | Path = ".") -> str:
    """Hash the ingest output of these params' pipeline, store it in DVC's cache, push it; return its content hash.

    With `record`, dvc.lock is updated too (what `dvc commit -f ingest@NAME` does). Without it, dvc.lock is left
    alone: the output came from params other than the file's, and recording them as the file's would make
    `dvc status` call a wrong output up to date.
    """
    from tasks.pipelines import find_pipeline

    stage_name, out_path = f"ingest@{find_pipeline(params, root)}", params.paths.dataset
    with open_repo(root) as repo:
        if record:
            repo.commit(stage_name, force=True)
        (stage,) = repo.stage.collect(stage_name)
        (out,) = [o for o in stage.outs if Path(o.def_path) == Path(out_path)]
        if not record:
            out.save()
            out.commit()
        objects = {obj for used in out.get_used_objs().values() for obj in used}
        repo.cloud.push(objects)
        return out.hash_info.value

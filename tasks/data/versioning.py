"""DVC: record a stage's outputs in dvc.lock and the cache, read their content hash, push to the remote."""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml

from tasks.core.errors import LmforgeError, redact
from tasks.core.runtime import say

PENDING = "push-pending.json"  # beside the dataset folder while its version is not on the remote


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
    from tasks.data.pipelines import sync_pipeline

    stage_name, out_path = f"ingest@{sync_pipeline(params, root)}", params.paths.dataset
    with open_repo(root) as repo:
        if record:
            repo.commit(stage_name, force=True)
        (stage,) = repo.stage.collect(stage_name)
        (out,) = [o for o in stage.outs if Path(o.def_path) == Path(out_path)]
        if not record:
            out.save()
            out.commit()
        objects = {obj for used in out.get_used_objs().values() for obj in used}
        push_objects(repo, objects, out.hash_info.value, pending_path(params))
        return out.hash_info.value


def pending_path(params) -> Path:
    return Path(params.paths.dataset).parent / PENDING


def read_pending(params) -> dict | None:
    """What the last push of this dataset left undone, if anything: {data_version, remote, reason, time}."""
    try:
        return json.loads(pending_path(params).read_text())
    except (OSError, ValueError):
        return None


def push_objects(repo, objects: set, data_version: str, pending: Path) -> None:
    """Push to the default remote; a remote that is down or read-only does not stop the run: the version stays in
    the local cache, the marker says the push is pending, and the next run (which the marker makes run) pushes it."""
    remote = repo.config["core"].get("remote", "")
    where = redact(f"{remote} ({repo.config['remote'].get(remote, {}).get('url', '')})" if remote else "(none set)")
    try:
        failed = len(repo.cloud.push(objects).failed)
        reason = f"{failed} of {len(objects)} files were not uploaded" if failed else ""
    except Exception as error:  # noqa: BLE001 - any remote failure is said and left for the next run
        reason = redact(str(error).splitlines()[0] if str(error) else type(error).__name__)
    if not reason:
        pending.unlink(missing_ok=True)
        return
    pending.parent.mkdir(parents=True, exist_ok=True)
    pending.write_text(json.dumps({"data_version": data_version, "remote": where, "reason": reason,
                                   "time": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=1))
    say(f"[warn] DVC remote {where} did not take data version {data_version} ({reason}); the run goes on with "
        "the copy in .dvc/cache, and the next run (or `dvc push`) pushes it")


def find_version_file(data_version: str, relpath: str, root: str | Path = ".") -> Path:
    """A file of a data version (a dataset folder's hash, ending in .dir) in this project's DVC cache: what a model
    was trained and tested on, whatever data/ holds now."""
    with open_repo(root) as repo:
        manifest = Path(repo.cache.local.oid_to_path(data_version))
        if not manifest.is_file():
            raise LmforgeError(f"data version {data_version} is not in this project's DVC cache; `dvc pull` it "
                               "(or `dvc fetch`), then monitor again.")
        entry = next((item for item in json.loads(manifest.read_text()) if item["relpath"] == relpath), None)
        if entry is None:
            raise LmforgeError(f"data version {data_version} holds no {relpath}; it was not made by lmforge's ingest.")
        return Path(repo.cache.local.oid_to_path(entry["md5"]))


def pull_version(data_version: str, root: str | Path = ".") -> bool:
    """Bring a data version (its manifest, then its files) from the default remote into the local cache when the
    cache lacks it; whether the cache holds it afterwards. A remote that is unset or down is a False, not an error."""
    from dvc_data.hashfile.hash_info import HashInfo

    with open_repo(root) as repo:
        manifest = Path(repo.cache.local.oid_to_path(data_version))
        try:
            if not manifest.is_file():
                repo.cloud.pull([HashInfo("md5", data_version)])
            if not manifest.is_file():
                return False
            entries = json.loads(manifest.read_text())
            missing = [HashInfo("md5", entry["md5"]) for entry in entries
                       if not Path(repo.cache.local.oid_to_path(entry["md5"])).is_file()]
            if missing:
                repo.cloud.pull(missing)
            return all(Path(repo.cache.local.oid_to_path(entry["md5"])).is_file() for entry in entries)
        except Exception:  # noqa: BLE001 - no remote, or one that cannot be reached: the cache is all there is
            return False

"""What a run picks up from an earlier one: the newest complete checkpoint of an interrupted run, or the finished
model of a run that failed after training (its tracking server went away before it was registered).

Trainer writes a checkpoint's trainer_state.json after its weights, optimizer, scheduler and RNG state, so a
checkpoint whose trainer_state.json parses is complete. A run killed while saving leaves a folder without it (or with
half of it); Trainer's own choice, the highest step number, would resume from that folder and fail, or worse.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from tasks.core.config import Params
from tasks.core.records import TokenizedData, TrainedModel
from tasks.core.run_record import read_run_record, write_run_record
from tasks.core.runtime import say

STATE_FILE = "trainer_state.json"
MODEL_META = "lmforge.json"  # written last into a saved model folder
# What the training run was (its MLflow run, how long, how fast) rather than what it made: the folder's run.json.
RUN_FACTS = ("run_id", "trained_in_run", "train_seconds", "train_samples_per_second", "train_tokens_per_second",
             "steps_run")
WEIGHTS_KEY = "weights_sha256"  # in lmforge.json, and a tag of the registered version


def read_model_meta(model_dir: str | Path, missing_ok: bool = False) -> dict:
    """What train wrote into a model folder: labels, params, lineage, training figures (lmforge.json) and the run
    that trained it (run.json; absent from a folder DVC restored from its cache). `missing_ok`: {} for a folder
    without lmforge.json (one lmforge did not train)."""
    path = Path(model_dir) / MODEL_META
    if missing_ok and not path.is_file():
        return {}
    return json.loads(path.read_text()) | read_run_record(model_dir)


def hash_weights(model_dir: str | Path) -> str:
    """One sha256 over the weight files: what the model is, whichever run made it (predictions are keyed by it)."""
    digest = hashlib.sha256()
    for path in sorted(Path(model_dir).rglob("*.safetensors")):
        digest.update(path.relative_to(model_dir).as_posix().encode())
        with path.open("rb") as file:
            digest.update(hashlib.file_digest(file, "sha256").digest())
    return digest.hexdigest()


def checkpoint_step(folder: Path) -> int:
    try:
        return int(folder.name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return -1


def read_state(folder: Path) -> dict | None:
    """The checkpoint's trainer state when the checkpoint is complete, else None."""
    try:
        state = json.loads((folder / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and "global_step" in state else None


def find_resumable(checkpoints: Path) -> tuple[Path, dict] | None:
    """The newest complete checkpoint and its state; incomplete newer ones are removed (saying so), so that neither
    this run nor a later one takes them."""
    folders = sorted((f for f in checkpoints.glob("checkpoint-*") if f.is_dir()), key=checkpoint_step, reverse=True)
    for folder in folders:
        state = read_state(folder)
        if state is None:
            say(f"[resume] removing {folder}: incomplete ({STATE_FILE} missing or cut short; killed while saving?)")
            shutil.rmtree(folder, ignore_errors=True)
            continue
        # Loading a pickle runs whatever code it holds; lmforge saves weights as safetensors only (Trainer's own
        # training_args.bin is pickled too, but nothing loads it on resume).
        pickled = sorted(file.name for file in folder.glob("*.bin") if file.name != "training_args.bin")
        pickled = pickled or ([] if any(folder.glob("*.safetensors")) else ["no .safetensors file"])
        if pickled:
            say(f"[resume] not resuming from {folder}: its weights are not safetensors ({', '.join(pickled)}); "
                "delete that folder, lmforge never loads pickled weights")
            continue
        return folder, state
    return None


def find_trained(model_dir: Path, key: str) -> dict | None:
    """The metadata of the finished model in `model_dir` when it was trained under `key` (the same tokenized data and
    model, train and project params). train writes that file last, after the weights, so its presence means whole."""
    try:
        meta = json.loads((model_dir / MODEL_META).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("training_key") != key or not any(model_dir.glob("*.safetensors")):
        return None
    return meta


def training_key(params: Params, tokens: TokenizedData) -> str:
    """One configuration on one tokenized dataset: what decides that two trainings are the same."""
    key = f"{tokens.cache_key}|{params.section_hash('model', 'train', 'project')}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def checkpoint_dir(params: Params, tokens: TokenizedData) -> Path:
    """What an interrupted run of this configuration resumes from."""
    return Path(params.paths.model).parent / "checkpoints" / training_key(params, tokens)


def reuse_trained(params: Params, tokens: TokenizedData, run_id: str) -> TrainedModel | None:
    """The model a failed run trained on these inputs and never registered, now owned by run `run_id`."""
    out = Path(params.paths.model)
    meta = find_trained(out, training_key(params, tokens))
    if meta is None:
        return None
    facts = read_run_record(out)
    say(f"[reuse] {out}: trained on this data with these params by MLflow run {facts.get('run_id')}, which did not "
        "finish; not training again (--force trains)")
    write_run_record(out, facts | {"run_id": run_id, "trained_in_run": facts.get("run_id")})
    return TrainedModel(path=str(out), best_metric=float(meta.get("best_metric") or 0.0), steps=int(meta["steps"]),
                        epochs=float(meta.get("epochs") or 0.0))

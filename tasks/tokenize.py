"""tokenize: the task kind's fast tokenizer (local pretrained, or one trained on train) applied to every split, cached
by data version + tokenizer + settings."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd

from tasks.core.config import Params
from tasks.hub.models import tokenizer_folder, tokenizer_source
from tasks.kinds import get_kind
from tasks.core.records import TokenizedData
from tasks.core.runtime import run_entry, step

META_FILE = "meta.json"


# What a checkpoint folder holds that is not its tokenizer: the weights and the model's config and code.
NOT_TOKENIZER = ("*.safetensors", "*.bin", "*.onnx", "*.pt2", "*.py", "config.json", "generation_config.json",
                 "lmforge.json", "run.json", "model.safetensors.index.json")


def file_digest(folder: Path) -> str:
    """A digest of every tokenizer file (tokenizer.json, or SentencePiece models: T5's spiece.model, Marian's
    source.spm, target.spm and vocab.json; vocabularies and merges)."""
    from fnmatch import fnmatch

    digest = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        if not any(fnmatch(path.name, pattern) for pattern in NOT_TOKENIZER):
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def cache_key(params: Params, data_version: str) -> str:
    """data version + tokenizer (its files' digest when pretrained) + tokenize settings."""
    source = tokenizer_folder(params)
    tokenizer = f"pretrained:{file_digest(Path(source))}" if source else params.tokenize.algorithm
    # validate decides which rows stay (its drop policies), so its settings are part of the key.
    parts = [data_version, tokenizer, params.section_hash("tokenize", "validate"), json.dumps(params.data.labels),
             str(bool(params.model.pretrained_encoder))]  # a warm start's labels leave out the tokenizer's [CLS]
    # What a source is read as (its prefix, language codes); unset, older keys stay as they were.
    parts += [f"{key}={getattr(params.model, key)}" for key in ("input_prefix", "source_lang", "target_lang")
              if getattr(params.model, key)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def tokenize_dataset(params: Params, data_version: str) -> TokenizedData:
    """The pure core: token ids per split as Parquet plus the tokenizer, reused when the key is unchanged."""
    out = Path(params.paths.tokenized)
    key = cache_key(params, data_version)
    meta_path = out / META_FILE
    if meta_path.is_file() and json.loads(meta_path.read_text()).get("cache_key") == key:
        return TokenizedData(path=str(out), cache_key=key, tokenizer_path=str(out / "tokenizer"), reused=True)
    dataset = Path(params.paths.validated)
    splits = {name: pd.read_parquet(dataset / f"{name}.parquet") for name in ("train", "validation", "test")}
    source, _ = tokenizer_source(params)
    # A fresh folder: a kind that trains a second tokenizer leaves nothing of an earlier entry beside the new one.
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    labels, tokenizer_name = get_kind(params.task).tokenize_splits(splits, params, tokenizer_folder(params), out)
    return write_meta(out, key, data_version, labels, source or tokenizer_name)  # a Hub id as pinned, not its folder


def write_meta(out: Path, key: str, data_version: str, labels: list[str] | None, tokenizer: str) -> TokenizedData:
    """Written last: a cache entry counts only once everything beside it is complete."""
    (out / META_FILE).write_text(json.dumps({"cache_key": key, "data_version": data_version, "labels": labels,
                                             "tokenizer_source": tokenizer}, indent=1))
    return TokenizedData(path=str(out), cache_key=key, tokenizer_path=str(out / "tokenizer"))


def read_meta(tokenized_dir: str | Path) -> dict:
    return json.loads((Path(tokenized_dir) / META_FILE).read_text())


@step
def tokenize(params: Params, data_version: str) -> TokenizedData:
    return tokenize_dataset(params, data_version)


def main(params: Params) -> None:
    from tasks.data.versioning import read_out_hash

    print(tokenize_dataset(params, read_out_hash(params.paths.dataset)))


if __name__ == "__main__":
    run_entry(main)

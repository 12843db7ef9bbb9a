"""tokenize: a fast tokenizer (local pretrained, or WordPiece trained on train) applied to every split, cached."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd

from tasks.config import Params
from tasks.records import TokenizedData
from tasks.runtime import run_entry, step
from tasks.tokenizer_io import load_tokenizer

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
META_FILE = "meta.json"


def tokenizer_source(params: Params) -> str | None:
    """A pretrained model brings its own tokenizer unless tokenize.pretrained names another."""
    return params.tokenize.pretrained or params.model.pretrained


def file_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.glob("*token*") if p.is_file()):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def cache_key(params: Params, data_version: str) -> str:
    """data version + tokenizer (its files' digest when pretrained) + tokenize settings."""
    source = tokenizer_source(params)
    tokenizer = f"pretrained:{file_digest(Path(source))}" if source else params.tokenize.algorithm
    # validate decides which rows stay (its drop policies), so its settings are part of the key.
    parts = [data_version, tokenizer, params.section_hash("tokenize", "validate"), json.dumps(params.data.labels)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def train_wordpiece(texts: list[str], params: Params):
    """A BERT-style WordPiece tokenizer learnt from the training texts."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    settings = params.tokenize
    core = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    core.normalizer = normalizers.BertNormalizer(lowercase=settings.lowercase)
    core.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    core.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=settings.vocab_size, min_frequency=settings.min_frequency,
                                        special_tokens=SPECIAL_TOKENS, show_progress=False)
    core.train_from_iterator(texts, trainer)
    cls, sep = core.token_to_id("[CLS]"), core.token_to_id("[SEP]")
    core.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return PreTrainedTokenizerFast(tokenizer_object=core, model_max_length=settings.max_length, unk_token="[UNK]",
                                   pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")


def tokenize_dataset(params: Params, data_version: str) -> TokenizedData:
    """The pure core: token ids per split as Parquet plus the tokenizer, reused when the key is unchanged."""
    out = Path(params.paths.tokenized)
    key = cache_key(params, data_version)
    meta_path = out / META_FILE
    if meta_path.is_file() and json.loads(meta_path.read_text()).get("cache_key") == key:
        return TokenizedData(path=str(out), cache_key=key, tokenizer_path=str(out / "tokenizer"), reused=True)
    dataset = Path(params.paths.validated)
    splits = {name: pd.read_parquet(dataset / f"{name}.parquet") for name in ("train", "validation", "test")}
    source = tokenizer_source(params)
    out.mkdir(parents=True, exist_ok=True)
    if params.task == "seq2seq":
        from tasks.tokenize_pairs import tokenize_pairs

        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        tokenize_pairs(splits, params, source, out)
        return write_meta(out, key, data_version, None, source or params.tokenize.algorithm)
    tokenizer = load_tokenizer(source) if source else train_wordpiece(splits["train"]["text"].tolist(), params)
    tokenizer.save_pretrained(str(out / "tokenizer"))
    for name, frame in splits.items():
        # No padding here: batches are padded to their own longest row at training time.
        encoded = tokenizer(frame["text"].tolist(), truncation=True, max_length=params.tokenize.max_length)
        pd.DataFrame({"input_ids": encoded["input_ids"], "label": frame["label"]}).to_parquet(out / f"{name}.parquet")
    labels = params.data.labels or sorted(splits["train"]["label"].dropna().unique().tolist())
    return write_meta(out, key, data_version, labels, source or "wordpiece")


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
    from tasks.versioning import read_out_hash

    print(tokenize_dataset(params, read_out_hash(params.paths.dataset)))


if __name__ == "__main__":
    run_entry(main)

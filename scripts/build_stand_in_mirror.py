"""Build a stand-in data mirror (LMFORGE_DATA_MIRROR) for configs/*.yaml from local copies of the benchmark datasets.

    .venv/bin/python scripts/build_stand_in_mirror.py --from DATASETS --to MIRROR

DATASETS holds conversions of the public datasets (CSV and JSONL: sst2/, trec/, banking77/, multi30k_de_en/,
squad_v1.1_train_subset/, aeslc/, tinyshakespeare/), not the files the Hub serves. This script lays them out in the
public sources' shape, so that a config that names the Hub dataset or URL reads the same columns and splits from the
mirror offline as from the Hub online: the same file layout (the repository's own Parquet files, or the Hub's Parquet
conversion `CONFIG/SPLIT/0000.parquet` for datasets that have only that), the same columns and column types, class
labels as ids named in the schema (ClassLabel) and nested answers as SQuAD nests them. The bytes differ from the
Hub's (Parquet written here), so a Hub dataset read from the mirror is recorded as `mirror:<hash>`, not as a Hub
commit. Tiny Shakespeare is the one byte-exact file: its two halves joined give the file the URL serves, checked
against the SHA-256 that configs/shakespeare.yaml pins.

Where the local copy lacks what the public source has, the stand-in leaves it out (the split or the value is said in
MIRROR/README.md): SST-2's unlabelled test split, SQuAD's validation split and its id and title values, the rest of
SQuAD's train split. TREC's fine labels keep the local copy's name order, not the Hub's ids.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import shutil
import sys
from pathlib import Path

SHAKESPEARE_URL = "raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
STRING = {"dtype": "string", "_type": "Value"}


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def class_label(names: list[str]) -> dict:
    return {"names": names, "_type": "ClassLabel"}


def write_parquet(path: Path, columns: dict[str, list], features: dict) -> None:
    """A Parquet file as the `datasets` library writes one: the features in the schema's `huggingface` metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"string": pa.string(), "int32": pa.int32(), "int64": pa.int64()}
    fields = []
    for name, feature in features.items():
        if feature["_type"] == "ClassLabel":
            fields.append(pa.field(name, pa.int64()))
        elif feature["_type"] == "Value":
            fields.append(pa.field(name, types[feature["dtype"]]))
        else:  # a Sequence of a dict, as SQuAD's answers: a struct of lists
            fields.append(pa.field(name, pa.struct([(key, pa.list_(types[inner["dtype"]]))
                                                    for key, inner in feature["feature"].items()])))
    schema = pa.schema(fields, metadata={b"huggingface": json.dumps({"info": {"features": features}}).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns, schema=schema), path)


def write_card(folder: Path, header: str, body: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text(f"---\n{header.strip()}\n---\n\n{body.strip()}\n", encoding="utf-8")


def build_sst2(source: Path, repo: Path) -> str:
    names = ["negative", "positive"]
    features = {"idx": {"dtype": "int32", "_type": "Value"}, "sentence": STRING, "label": class_label(names)}
    for split, file in (("train", "train.csv"), ("validation", "dev.csv")):
        rows = read_csv(source / file)
        write_parquet(repo / "data" / f"{split}-00000-of-00001.parquet",
                      {"idx": list(range(len(rows))), "sentence": [row["text"] for row in rows],
                       "label": [int(row["label"]) for row in rows]}, features)
    write_card(repo, """
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*
  - split: validation
    path: data/validation-*""", "Stand-in for stanfordnlp/sst2 (train and validation; the unlabelled test split is left out).")
    return "stanfordnlp/sst2: data/{train,validation}-00000-of-00001.parquet (idx, sentence, label)"


def build_converted(repo: Path, splits: dict[str, dict[str, list]], features: dict) -> None:
    """The Hub's Parquet conversion of a dataset (branch refs/convert/parquet): CONFIG/SPLIT/0000.parquet, no card."""
    for split, columns in splits.items():
        write_parquet(repo / "default" / split / "0000.parquet", columns, features)


def build_trec(source: Path, repo: Path) -> str:
    coarse = (source / "labels.txt").read_text(encoding="utf-8").split()
    fine = (source / "labels_fine.txt").read_text(encoding="utf-8").split()
    splits = {}
    for split in ("train", "test"):
        rows, fines = read_csv(source / f"{split}.csv"), read_csv(source / f"{split}_fine.csv")
        splits[split] = {"text": [row["text"] for row in rows], "coarse_label": [coarse.index(r["label"]) for r in rows],
                         "fine_label": [fine.index(row["label"]) for row in fines]}
    build_converted(repo, splits, {"text": STRING, "coarse_label": class_label(coarse), "fine_label": class_label(fine)})
    return "CogComp/trec@refs/convert/parquet: default/{train,test}/0000.parquet (text, coarse_label, fine_label)"


def build_banking77(source: Path, repo: Path) -> str:
    names = sorted((source / "labels.txt").read_text(encoding="utf-8").split(), key=str.lower)  # the Hub's id order
    splits = {}
    for split in ("train", "test"):
        rows = read_csv(source / f"{split}.csv")
        splits[split] = {"text": [row["text"] for row in rows], "label": [names.index(row["label"]) for row in rows]}
    build_converted(repo, splits, {"text": STRING, "label": class_label(names)})
    return "PolyAI/banking77@refs/convert/parquet: default/{train,test}/0000.parquet (text, label)"


def build_multi30k(source: Path, repo: Path) -> str:
    for name, file in (("train", "train.jsonl"), ("val", "val.jsonl"), ("test", "test_2016_flickr.jsonl")):
        lines = [json.dumps({"en": row["target"], "de": row["source"]}, ensure_ascii=False)
                 for row in read_jsonl(source / file)]
        repo.mkdir(parents=True, exist_ok=True)
        (repo / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_card(repo, "task_categories:\n- translation\nlanguage:\n- en\n- de", "Stand-in for bentrevett/multi30k.")
    return "bentrevett/multi30k: {train,val,test}.jsonl (en, de)"


def build_squad(source: Path, repo: Path) -> str:
    rows = read_jsonl(source / "train.jsonl")
    answers = {"text": STRING, "answer_start": {"dtype": "int32", "_type": "Value"}}
    features = {"id": STRING, "title": STRING, "context": STRING, "question": STRING,
                "answers": {"feature": answers, "_type": "Sequence"}}
    write_parquet(repo / "plain_text" / "train-00000-of-00001.parquet",
                  {"id": [None] * len(rows), "title": [None] * len(rows), "context": [row["context"] for row in rows],
                   "question": [row["question"] for row in rows],
                   "answers": [{"text": [row["answer"]], "answer_start": [int(row["answer_start"])]} for row in rows]},
                  features)
    write_card(repo, """
configs:
- config_name: plain_text
  data_files:
  - split: train
    path: plain_text/train-*
  - split: validation
    path: plain_text/validation-*
  default: true""", "Stand-in for rajpurkar/squad: the first questions of train only; id and title are empty.")
    return f"rajpurkar/squad: plain_text/train-00000-of-00001.parquet ({len(rows)} rows; nested answers)"


def build_aeslc(source: Path, repo: Path) -> str:
    splits = {}
    for split in ("train", "validation", "test"):
        rows = read_jsonl(source / f"{split}.jsonl")
        splits[split] = {"email_body": [row["source"] for row in rows], "subject_line": [row["target"] for row in rows]}
    build_converted(repo, splits, {"email_body": STRING, "subject_line": STRING})
    return "Yale-LILY/aeslc@refs/convert/parquet: default/{train,validation,test}/0000.parquet (email_body, subject_line)"


def build_shakespeare(source: Path, root: Path) -> str:
    text = (source / "train.txt").read_bytes() + (source / "valid.txt").read_bytes()
    if hashlib.sha256(text).hexdigest() != SHAKESPEARE_SHA256:
        sys.exit(f"{source}: train.txt + valid.txt do not give the file {SHAKESPEARE_URL} serves (SHA-256 differs)")
    target = root / "https" / SHAKESPEARE_URL
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(text)
    return f"https://{SHAKESPEARE_URL} (byte-exact, SHA-256 {SHAKESPEARE_SHA256[:12]}...)"


BUILDERS = {"sst2": ("stanfordnlp/sst2", build_sst2), "trec": ("CogComp/trec", build_trec),
            "banking77": ("PolyAI/banking77", build_banking77), "multi30k_de_en": ("bentrevett/multi30k", build_multi30k),
            "squad_v1.1_train_subset": ("rajpurkar/squad", build_squad), "aeslc": ("Yale-LILY/aeslc", build_aeslc)}


def build_mirror(source: Path, target: Path) -> list[str]:
    """Every dataset of `source` that is there, laid out under `target`; returns a line per source built."""
    built = []
    for folder, (repo_id, build) in BUILDERS.items():
        if (source / folder).is_dir():
            repo = target / "hf" / "datasets" / repo_id
            shutil.rmtree(repo, ignore_errors=True)
            built.append(build(source / folder, repo))
    if (source / "tinyshakespeare").is_dir():
        built.append(build_shakespeare(source / "tinyshakespeare", target))
    (target / "README.md").write_text(
        "# A stand-in data mirror (LMFORGE_DATA_MIRROR)\n\nBuilt by scripts/build_stand_in_mirror.py from local "
        "conversions of the public datasets: the public sources' layout, columns and splits, not their bytes.\n\n"
        + "".join(f"- {line}\n" for line in built), encoding="utf-8")
    return built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", type=Path, required=True, help="the folder of local conversions")
    parser.add_argument("--to", dest="target", type=Path, required=True, help="the mirror folder to write")
    args = parser.parse_args()
    if not args.source.is_dir():
        sys.exit(f"{args.source}: no such folder; pass --from the folder that holds sst2/, trec/ ...")
    for line in build_mirror(args.source, args.target):
        print(line)
    print(f"export LMFORGE_DATA_MIRROR={args.target.resolve()}")


if __name__ == "__main__":
    main()

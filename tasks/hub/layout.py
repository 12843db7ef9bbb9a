"""Which files of a Hub dataset hold which split: the dataset card's `configs` (data_files per split) when it has
them, else the names the `datasets` library infers splits from (train*, validation*/val*/dev*, test*, as a file
name's first word or a folder). Pure: a listing of paths and the card's header in, (split, path) pairs out."""

from __future__ import annotations

import re
from fnmatch import fnmatch

from tasks.core.errors import LmforgeError

DATA_SUFFIXES = (".parquet", ".csv", ".tsv", ".jsonl", ".json", ".txt")
SPLIT_WORDS = {"train": ("train", "training"), "validation": ("validation", "valid", "val", "dev"),
               "test": ("test", "testing", "eval", "evaluation")}
WORD_SPLITS = {word: split for split, words in SPLIT_WORDS.items() for word in words}


def read_card(text: str | None) -> dict:
    """The YAML header of a dataset card (README.md), or {} when there is none."""
    import yaml

    if not text or not text.startswith("---"):
        return {}
    header = text.split("\n---", 1)[0].removeprefix("---")
    try:
        found = yaml.safe_load(header)
    except yaml.YAMLError:
        return {}
    return found if isinstance(found, dict) else {}


def card_patterns(card: dict, config: str | None, source: str) -> dict[str, list[str]] | None:
    """Split -> path patterns of the chosen config, as the card lists them; None when it lists no configs."""
    configs = [entry for entry in card.get("configs") or [] if isinstance(entry, dict)]
    if not configs:
        return None
    names = [str(entry.get("config_name", "default")) for entry in configs]
    if config is not None:
        if config not in names:
            raise LmforgeError(f"data.config: {source} has no config {config!r} (it has {', '.join(names)}); name "
                               "one of those.")
        chosen = configs[names.index(config)]
    else:
        marked = [entry for entry in configs if entry.get("default")] or \
                 [entry for entry, name in zip(configs, names) if name == "default"]
        if not marked and len(configs) > 1:
            raise LmforgeError(f"data.config: {source} has several configs ({', '.join(names)}) and none is its "
                               "default; name one in data.config.")
        chosen = (marked or configs)[0]
    files = chosen.get("data_files") or []
    if isinstance(files, (str, list)) and not (isinstance(files, list) and files and isinstance(files[0], dict)):
        return {"train": [files] if isinstance(files, str) else list(files)}
    return {str(item["split"]): [item["path"]] if isinstance(item["path"], str) else list(item["path"])
            for item in files if isinstance(item, dict) and "split" in item and "path" in item}


def infer_split(path: str) -> str | None:
    """The split a file's path names by the datasets library's conventions, or None."""
    *folders, name = path.lower().split("/")
    first = re.split(r"[-._ 0-9]", name, maxsplit=1)[0]
    for word in [first, *reversed(folders)]:
        if word in WORD_SPLITS:
            return WORD_SPLITS[word]
    return None


def split_files(listing: list[str], card: dict, config: str | None, source: str) -> dict[str, list[str]]:
    """Split name -> the data files that hold it, sorted (shards read in order)."""
    data = sorted(path for path in listing if path.lower().endswith(DATA_SUFFIXES))
    patterns = card_patterns(card, config, source)
    if patterns is not None:
        return {split: [path for path in data if any(fnmatch(path, pattern) for pattern in globs)]
                for split, globs in patterns.items()}
    if config is not None:
        data = [path for path in data if path.startswith(f"{config}/")]  # the Hub's Parquet conversion: CONFIG/SPLIT/
    found: dict[str, list[str]] = {}
    for path in data:
        split = infer_split(path)
        if split:
            found.setdefault(split, []).append(path)
    return found


def pick_files(listing: list[str], card: dict, config: str | None, wanted: dict[str, str], source: str,
               inside: str = "") -> list[tuple[str | None, str]]:
    """(lmforge split, path) for each split data.splits asks for by its Hub name; a path inside the repository that
    is one file is read whole (split None), as a local file is."""
    if inside and inside in listing:
        return [(None, inside)]
    if inside:
        listing = [path.removeprefix(f"{inside}/") for path in listing if path.startswith(f"{inside}/")]
    found = split_files(listing, card, config, source)
    picked = []
    for split, name in wanted.items():
        files = found.get(name)
        if not files:
            where = f" in config {config}" if config else ""
            have = ", ".join(sorted(name for name, paths in found.items() if paths)) or "no data files"
            raise LmforgeError(f"data.splits.{split}: {source} has no split {name!r}{where} (it has {have}); name one "
                               f"of those in data.splits.{split}, or give a share to carve it from train.")
        picked += [(split, f"{inside}/{path}" if inside else path) for path in files]
    return picked

"""Reading raw sources (CSV, JSONL, Parquet, a folder of them) into frames, with one-sentence errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from tasks.core.errors import LmforgeError

SUFFIX_FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".txt": "text"}
TEXT_FILE_COLUMN = "text_file"  # which .txt file a row of plain text came from: its group when a folder is carved
SPLIT_NAMES = {"train": "train", "training": "train", "validation": "validation", "valid": "validation",
               "val": "validation", "dev": "validation", "test": "test", "testing": "test"}


def detect_format(path: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    if path.suffix.lower() not in SUFFIX_FORMATS:
        raise LmforgeError(f"{path}: cannot tell the format from the suffix; name it .csv, .jsonl, .parquet or .txt "
                           "(plain text, for causal_lm), or set data.format.")
    return SUFFIX_FORMATS[path.suffix.lower()]


def read_table(path: Path, fmt: str = "auto", documents: str = "auto", text_column: str = "text") -> pd.DataFrame:
    """One file as a frame of strings; a missing, empty, header-only or non-UTF-8 file is an LmforgeError. Plain text
    is cut into rows of `text_column` by `documents` (the whole file, paragraphs or lines)."""
    if not path.exists():
        raise LmforgeError(f"{path}: no such file; check data.source or create the file.")
    if path.stat().st_size == 0:
        raise LmforgeError(f"{path}: the file is empty; point data.source at a file with a header and rows.")
    kind = detect_format(path, fmt)
    try:
        if kind == "csv":
            frame = pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",", encoding="utf-8",
                                dtype=str, keep_default_na=False, na_values=[""])
        elif kind == "jsonl":
            frame = read_jsonl(path)
        elif kind == "text":
            frame = read_text(path, documents, text_column)
        else:
            frame = read_parquet(path)
    except UnicodeDecodeError as error:
        raise LmforgeError(f"{path}: not UTF-8 text (byte {error.object[error.start]:#04x} at offset {error.start}); "
                           "re-save the file as UTF-8.") from None
    except (ValueError, pd.errors.ParserError, OSError) as error:
        raise LmforgeError(describe_parse_error(path, kind, str(error))) from None
    if frame.empty:
        raise LmforgeError(f"{path}: has a header but no rows; add data rows or point data.source elsewhere.")
    return frame


def read_parquet(path: Path) -> pd.DataFrame:
    """A Parquet file; class ids the `datasets` library named in its schema (ClassLabel) read as their names."""
    import pyarrow.parquet as pq

    from tasks.data.shapes import class_names, name_classes

    return name_classes(pd.read_parquet(path), class_names(pq.read_schema(path).metadata))


def describe_parse_error(path: Path, kind: str, message: str) -> str:
    """The parser's complaint in the user's words: a CSV row with more fields than the header is named by its line."""
    import re

    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if found:
        expected, line, saw = found.groups()
        return (f"{path}: line {line} has {saw} fields but the header has {expected}; put a text that holds a comma "
                'in double quotes ("like, this"), or remove the extra field.')
    twice = re.search(r"Multiple matches for FieldRef.Name\((.*?)\)", message)
    if twice:
        return f"{path}: more than one column is named {twice.group(1)!r}; rename all but one of them."
    return f"{path}: cannot be read as {kind} ({message.splitlines()[0] if message else 'parser error'}); check the file or set data.format."


def read_jsonl(path: Path) -> pd.DataFrame:
    """One JSON object per line (blank lines skipped); a line that is not an object is named by its number."""
    import json

    rows = []
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as error:
                raise LmforgeError(f"{path}: line {number} is not JSON ({error.msg}); fix or remove that line.") from None
            if not isinstance(row, dict):
                raise LmforgeError(f"{path}: line {number} is a JSON {type(row).__name__}, not an object of "
                                   "column: value pairs; write one object per line.")
            rows.append(row)
    return pd.DataFrame(rows)


def read_text(path: Path, documents: str, column: str) -> pd.DataFrame:
    """Plain text as rows: the whole file, its paragraphs (split at blank lines) or its non-blank lines; auto reads
    paragraphs where the file has a blank line between texts and lines where it has none, since a corpus of one
    sentence per line (Penn Treebank, a list of questions) is not one paragraph."""
    import re

    text = path.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    if documents == "auto":
        documents = "blank_line" if re.search(r"\n[ \t]*\n", text.strip()) else "line"
    if documents == "file":
        parts = [text.strip("\n")]
    elif documents == "line":
        parts = text.split("\n")
    else:
        parts = re.split(r"\n[ \t]*\n", text)
    rows = [part.strip("\n") for part in parts if part.strip()]
    return pd.DataFrame({column: rows, TEXT_FILE_COLUMN: path.name})


def is_text_source(source: str) -> bool:
    """Whether a data source is plain text: a .txt file, or a folder that holds them."""
    path = Path(source)
    return path.suffix.lower() == ".txt" or (path.is_dir() and any(path.glob("*.txt")))


def split_name(path: Path) -> str | None:
    """The split a file stands for by its name (train.csv, dev.jsonl), or None."""
    return SPLIT_NAMES.get(path.stem.lower())


def pick_files(folder: Path, named: dict[str, str]) -> list[tuple[str, Path]]:
    """(split, file) to read from a folder: the files data.splits names (train.* unless named), else every data file,
    each of which must then be named like a split: an unknown file is refused, never merged into the splits. A
    folder of plain text is a corpus: files not named like a split are all training text."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIX_FORMATS)
    if not named:
        if not files:
            raise LmforgeError(f"{folder}: the folder holds no .csv, .jsonl, .parquet or .txt file; add one or fix "
                               "data.source.")
        if all(file.suffix.lower() == ".txt" for file in files):
            return [(split_name(file) or "train", file) for file in files]
        unknown = [file.name for file in files if split_name(file) is None]
        if unknown:
            raise LmforgeError(f"{folder / unknown[0]}: the file name is no split name (train, validation, val, dev, "
                               "test), so lmforge will not guess its rows' split; name the files to read in "
                               f"data.splits (e.g. data.splits.test: {unknown[0]}) or move it out of the folder.")
        return [(split_name(file), file) for file in files]
    picked = dict(named)
    if "train" not in picked:
        trains = [file.name for file in files if split_name(file) == "train"]
        if not trains:
            raise LmforgeError(f"{folder}: no train file (train.csv, train.jsonl...); name it in data.splits.train.")
        picked["train"] = trains[0]
    for split, name in picked.items():
        if not (folder / name).is_file():
            raise LmforgeError(f"{folder / name}: no such file, named by data.splits.{split}; fix the name or the folder.")
    return [(split, folder / name) for split, name in picked.items()]


def read_files(files: list[tuple[str | None, str]], fmt: str = "auto", named: dict[str, str] | None = None,
               documents: str = "auto", text_column: str = "text") -> list[tuple[str | None, pd.DataFrame]]:
    """Frames of the files a remote source was fetched as, each with the split it holds (None: a single file)."""
    if named and any(split is None for split, _ in files):
        split = next(iter(named))
        raise LmforgeError(f"data.splits.{split} names a split, but data.source is one file; give data.splits shares, "
                           "or point data.source at the dataset or folder.")
    return [(split, read_table(Path(path), fmt, documents, text_column)) for split, path in files]


def read_source(source: str, fmt: str = "auto", named: dict[str, str] | None = None, documents: str = "auto",
                text_column: str = "text") -> list[tuple[str | None, pd.DataFrame]]:
    """Frames of a file or a folder, each with the split its file stands for (None when a single file)."""
    path = Path(source)
    if path.is_dir():
        return [(split, read_table(file, fmt, documents, text_column)) for split, file in pick_files(path, named or {})]
    if named:
        split = next(iter(named))
        raise LmforgeError(f"data.splits.{split} names a file, but data.source {source} is a file, not a folder; "
                           "point data.source at the folder or give data.splits shares.")
    return [(None, read_table(path, fmt, documents, text_column))]


def peek_columns(source: str) -> list[str] | None:
    """The column names of a source's first data file, from its first rows; None when it cannot be read (plain
    text has none)."""
    path = Path(source)
    if path.is_dir():
        path = next((p for p in sorted(path.iterdir()) if p.suffix.lower() in SUFFIX_FORMATS), path)
    kind = SUFFIX_FORMATS.get(path.suffix.lower())
    try:
        if kind == "csv":
            return [str(c) for c in pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",", nrows=5, dtype=str).columns]
        if kind == "jsonl":
            import json

            with path.open(encoding="utf-8-sig") as handle:
                return list(json.loads(next(line for line in handle if line.strip())))
        if kind == "parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
    except (OSError, ValueError, StopIteration, AttributeError, pd.errors.ParserError):
        return None
    return None


def pick_columns(frame: pd.DataFrame, columns: dict[str, str], origin: str) -> pd.DataFrame:
    """Rename the source's columns to canonical names (a dotted name reads inside a nested column: answers.text); a
    missing one is named with the key that sets it."""
    from tasks.data.shapes import read_nested

    picked = {}
    for key, column in columns.items():
        values = frame[column] if column in frame.columns else read_nested(frame, column)
        if values is None:
            nested = any(frame[name].map(lambda value: isinstance(value, dict)).any() for name in frame.columns)
            hint = " (a dotted name reads inside a nested column, e.g. answers.text)" if nested else ""
            raise LmforgeError(f"{origin}: no column {column!r} (it has {', '.join(map(repr, map(str, frame.columns)))}); "
                               f"set data.{key} to the right column{hint}.")
        picked[key.removesuffix("_column")] = as_text(values)
    return pd.DataFrame(picked)


def as_text(column: pd.Series) -> pd.Series:
    """Values as strings with nulls kept, so a typed source (JSONL numbers, Parquet ints, floats, booleans) gives the
    labels and texts a CSV would: 1 and 1.0 are both "1", never a column that mixes str and float. A nested value (a
    JSONL list or object, a Parquet list or struct) becomes its JSON text, which reads back as the value."""
    if column.dtype == object and column.map(is_nested).any():
        column = column.map(lambda value: json.dumps(plain_value(value), ensure_ascii=False) if is_nested(value)
                            else value)
    typed = column.convert_dtypes()
    return typed.astype("string").astype(object).where(typed.notna(), None)


def is_nested(value) -> bool:
    return isinstance(value, (list, tuple, dict, np.ndarray))


def plain_value(value):
    """A reader's nested value as JSON can write it: Parquet's lists come as numpy arrays, its numbers as numpy's."""
    if isinstance(value, dict):
        return {str(key): plain_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain_value(item) for item in value]
    return value.item() if isinstance(value, np.generic) else value

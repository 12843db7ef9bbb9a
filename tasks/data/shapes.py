"""Public datasets as they are shaped, read without converting them first: a Parquet file written by the `datasets`
library (every Hub dataset's Parquet) stores class labels as ids and names them in its schema (ClassLabel), and a
column may nest what a kind needs (SQuAD's `answers: {text: [...], answer_start: [...]}`)."""

from __future__ import annotations

import json

import pandas as pd


def class_names(metadata: dict[bytes, bytes] | None) -> dict[str, list[str]]:
    """Column -> label names in id order, for each ClassLabel column the `datasets` library recorded."""
    try:
        info = json.loads((metadata or {}).get(b"huggingface", b"{}"))
    except ValueError:
        return {}
    features = (info.get("info") or {}).get("features") or {}
    if not isinstance(features, dict):
        return {}
    return {name: [str(label) for label in feature["names"]] for name, feature in features.items()
            if isinstance(feature, dict) and feature.get("_type") == "ClassLabel" and feature.get("names")}


def name_classes(frame: pd.DataFrame, names: dict[str, list[str]]) -> pd.DataFrame:
    """Ids replaced by their names (what the dataset's viewer shows); -1, the `datasets` library's "no label", is null."""
    for column, labels in names.items():
        if column in frame.columns:
            frame[column] = [labels[int(value)] if pd.notna(value) and 0 <= int(value) < len(labels) else None
                             for value in frame[column]]
    return frame


def read_nested(frame: pd.DataFrame, dotted: str) -> pd.Series | None:
    """The values at a dotted path into a nested column (`answers.text`), a list's first item where a level holds a
    list; None when no column starts the path."""
    head, _, rest = dotted.partition(".")
    if not rest or head not in frame.columns:
        return None

    def walk(value):
        for key in rest.split("."):
            if isinstance(value, dict):
                value = value.get(key)
            else:
                return None
            if hasattr(value, "__len__") and not isinstance(value, (str, dict)):
                value = value[0] if len(value) else None
        return value

    return frame[head].map(walk)

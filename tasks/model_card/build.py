"""The card's sections, each figure read from the registry through VersionSources (tasks/model_card/sources.py):
what the model is, what it is for, its data and validation, test metrics with intervals, per class, the gate's
decision, export parity, how and where it was trained, and whether it was rebuilt."""

from __future__ import annotations

from tasks.core.backend_names import BACKENDS
from tasks.core.config import TASK_METRICS
from tasks.model_card.render import FORMAT
from tasks.model_card.sources import make_fact

EVAL, INTERVALS, REPORT = "evaluation/eval.json", "evaluation/intervals.json", "validation/report.json"
PROMOTION, PARITY = "promotion/promotion.json", "export/parity.json"
TRAINING_PARAMS = ("model.pretrained", "tokenize.pretrained", "tokenize.algorithm", "tokenize.vocab_size",
                   "train.epochs", "train.max_steps", "train.time_budget_s", "train.batch_size", "train.learning_rate",
                   "train.select_by", "project.seed")
ENVIRONMENT_TAGS = ("python", "platform", "torch", "torch_threads", "cpu", "cpu_capability", "gpu", "gpu_driver",
                    "deterministic_algorithms", "packages_hash", "lock_hash")


def describe_model(sources) -> dict:
    fact = lambda label, origin, name: make_fact(sources, label, origin, name)
    return {"title": "Model", "facts": [
        fact("name", "version", "name"), fact("version", "version", "version"),
        fact("registered", "version", "created"), fact("task", "tag", "task"),
        fact("weights sha256", "tag", "weights_sha256"), fact("git commit", "tag", "git_commit"),
        fact("code differed from the commit", "tag", "git_dirty"), fact("lmforge", "tag", "lmforge_version"),
        fact("params hash", "tag", "params_hash"), fact("MLflow run", "run", "run_id"),
        make_fact(sources, "base model (Hub, at its commit)", "tag", "hub.model.pretrained",
                  missing="none from the Hub (a local checkpoint, or trained from scratch)"),
        make_fact(sources, "its own code trusted", "tag", "trust_remote_code", missing="no")]}


def describe_use(sources) -> dict:
    unset = lambda key: f"not stated (set card.{key} in params)"
    return {"title": "Intended use", "facts": [
        make_fact(sources, label, "param", f"card.{key}", missing=unset(key), blank=True)
        for label, key in (("intended use", "intended_use"), ("out of scope", "out_of_scope"),
                           ("limitations", "limitations"), ("contact", "contact"))]}


def describe_data(sources) -> dict:
    fact = lambda label, *key: make_fact(sources, label, "artifact", REPORT, *key)
    return {"title": "Data and validation", "facts": [
        make_fact(sources, "source", "tag", "data_source"),
        make_fact(sources, "source revision (Hub commit, checksum or mirror)", "tag", "data_revision",
                  missing="none (a local or built-in source)"),
        make_fact(sources, "data version (DVC)", "tag", "data_version"),
        *(fact(f"{split} rows", "rows", split) for split in ("train", "validation", "test")),
        fact("validation passed", "success"), fact("checks evaluated", "evaluated"), fact("failed checks", "checks"),
        fact("warnings", "warnings"), fact("rows dropped, by check", "dropped")]}


def describe_metrics(sources, task: str) -> dict:
    names = [name for name in TASK_METRICS[task] if name != "loss"]
    interval = lambda name, bound: make_fact(sources, f"{name} {bound}", "artifact", INTERVALS, "intervals",
                                             f"eval_{name}", bound, missing="-", absent="-")
    return {"title": "Test metrics", "facts": [
        make_fact(sources, "test rows scored", "artifact", EVAL, "eval_rows", count=True),
        make_fact(sources, "interval", "artifact", INTERVALS, "method"),
        make_fact(sources, "interval level", "artifact", INTERVALS, "level"),
        make_fact(sources, "bootstrap resamples", "artifact", INTERVALS, "resamples"),
        *([make_fact(sources, "no intervals because", "artifact", INTERVALS, "missing")]
          if (sources.artifact(INTERVALS) or {}).get("missing") else [])],
        "columns": ["metric", "value", "interval low", "interval high"],
        "rows": [[name, make_fact(sources, name, "artifact", EVAL, f"eval_{name}"), interval(name, 0),
                  interval(name, 1)] for name in names]}


def describe_classes(sources) -> dict | None:
    """Per-class precision, recall and F1 (classification), from the names evaluate gave them."""
    found = sources.artifact(EVAL) or {}
    labels = [key.removeprefix("eval_f1_") for key in sorted(found)
              if key.startswith("eval_f1_") and key != "eval_f1_macro"]
    if not labels:
        return None
    fact = lambda label, metric: make_fact(sources, f"{metric} {label}", "artifact", EVAL, f"eval_{metric}_{label}")
    return {"title": "Per class", "columns": ["class", "precision", "recall", "f1"],
            "rows": [[label, fact(label, "precision"), fact(label, "recall"), fact(label, "f1")] for label in labels]}


def describe_gate(sources) -> dict:
    missing = "not decided yet"
    fact = lambda label, *key: make_fact(sources, label, "artifact", PROMOTION, *key, missing=missing)
    return {"title": "Promotion gate", "facts": [
        fact("verdict", "verdict"), fact("reasons", "reasons"), fact("primary metric", "rule", "primary_metric"),
        fact("champion before", "champion_before"), fact("champion after", "champion_after"),
        fact("compared on data version", "data_version"), fact("test rows compared", "test_rows"),
        fact("challenger's metrics", "metrics", "challenger"), fact("champion's metrics", "metrics", "champion"),
        *(make_fact(sources, label, "artifact", PROMOTION, "baseline", key, missing=missing, absent="-")
          for label, key in (("baseline checked", "checked"), ("baseline", "name"), ("baseline's metrics", "metrics"),
                             ("beats the baseline", "beaten"))),
        fact("deltas", "deltas"), fact("significance", "significance"),
        fact("serving check passed", "serving_check", "passed"), fact("served on", "serving_check", "backend"),
        fact("canned requests", "serving_check", "requests"),
        fact("answers equal to its test outputs", "serving_check", "agreement"),
        fact("p95 latency (ms)", "serving_check", "p95_ms"), fact("server start (s)", "serving_check", "startup_s"),
        make_fact(sources, "serving check failed because", "artifact", PROMOTION, "serving_check", "reason",
                  missing=missing, absent="-", blank=True),
        make_fact(sources, "approval", "artifact", PROMOTION, "approval", "decision", missing=missing,
                  absent="not asked (promote.approval: auto)"),
        *(fact(label, "approval", key) for label, key in (("approved or rejected by", "by"),
                                                         ("approver's reason", "reason"), ("answered at", "time")))]}


def describe_slices(sources) -> dict | None:
    """The per-slice gate's table from the decision, when promote.slices asked for one."""
    table = (sources.artifact(PROMOTION) or {}).get("slices") or []
    if not table:
        return None
    fact = lambda i, key: make_fact(sources, f"{table[i]['slice']} {key}", "artifact", PROMOTION, "slices", i, key,
                                    missing="-", absent="-")
    return {"title": "Per slice", "facts": [
        make_fact(sources, "largest loss allowed on a slice", "artifact", PROMOTION, "rule", "slice_tolerance"),
        make_fact(sources, "rows a slice needs to be judged", "artifact", PROMOTION, "rule", "slice_min_rows")],
        "columns": ["slice", "rows", "challenger", "champion", "delta", "judged", "lost"],
        "rows": [[entry["slice"], *(fact(i, key) for key in ("rows", "challenger", "champion", "delta", "judged",
                                                              "regressed"))] for i, entry in enumerate(table)]}


def describe_export(sources) -> dict:
    missing = "not exported"
    fact = lambda backend, key: make_fact(sources, f"{backend} {key}", "artifact", PARITY, backend, key, missing="-",
                                          absent="-")
    return {"title": "Export parity", "facts": [
        make_fact(sources, "label agreement required", "artifact", PARITY, "min_agreement",
                  missing=f"{missing} (a challenger is exported when the rule passes it; lmforge export VERSION exports any)")],
        "columns": ["backend", "status", "agreement", "BLEU difference", "reason"],
        "rows": [[backend, make_fact(sources, f"{backend} status", "artifact", PARITY, backend, "status",
                                     missing=missing),
                  fact(backend, "agreement"), fact(backend, "bleu_diff"), fact(backend, "reason")]
                 for backend in BACKENDS if backend != "eager"]}


def describe_training(sources) -> dict:
    return {"title": "Training", "facts": [
        *(make_fact(sources, key, "param", key) for key in TRAINING_PARAMS),
        make_fact(sources, "run started", "run", "started"),
        make_fact(sources, "training seconds", "metric", "train_train_runtime"),
        make_fact(sources, "epochs run", "metric", "train_epoch"),
        *(make_fact(sources, f"environment: {name.replace('_', ' ')}", "tag", f"env_{name}",
                    missing="none" if name.startswith("gpu") else "not recorded", blank=name.startswith("gpu"))
          for name in ENVIRONMENT_TAGS)]}


def describe_rebuild(sources, name: str, version: str) -> dict:
    return {"title": "Reproducibility", "facts": [
        make_fact(sources, "rebuilt from its lineage", "tag", "reproduce",
                  missing=f"not checked yet (lmforge reproduce models:/{name}/{version})")]}


def build_card(sources) -> dict:
    """The JSON twin: every figure with the place it was read from."""
    name, version = sources.read("version", "name"), sources.read("version", "version")
    task = sources.read("tag", "task") or "classification"
    sections = [describe_model(sources), describe_use(sources), describe_data(sources),
                describe_metrics(sources, task), describe_classes(sources), describe_gate(sources),
                describe_slices(sources), describe_export(sources), describe_training(sources), describe_rebuild(sources, name, version)]
    return {"format": FORMAT, "model": name, "version": version, "sections": [s for s in sections if s]}

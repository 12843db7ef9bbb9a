"""promote: score the new challenger and the current champion on the same test rows, apply the rule, record it.

The champion is re-scored on the new data version's test split (numbers from an older split are never compared),
unless its own evaluate already scored these very rows.
Talking to the registry is this step's job, so MLflow is used here directly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from tasks.config import TASK_METRICS, Params
from tasks.faults import failpoint
from tasks.records import ModelVersion, Promotion
from tasks.runtime import run_entry, step


def predict_ids(params: Params, model_uri: str, texts: list[str], labels: list[str]) -> np.ndarray:
    """Label ids (in `labels`) a registered classifier gives the texts; -1 for a label the data does not have."""
    from tasks.predict import load_registered

    index = {label: i for i, label in enumerate(labels)}
    rows = pd.DataFrame(load_registered(params, model_uri).predict(texts))
    return np.array([index.get(str(label), -1) for label in rows["label"]])


def score_classifiers(params: Params, test: pd.DataFrame, uris: dict[str, str], reused: dict[str, list[str] | None]):
    """Metrics of each model on the test rows, and the significance check for challenger vs champion."""
    from tasks.promotion_rule import classification_significance, score_rows
    from tasks.train import read_model_meta

    rule = params.promote
    labels = list(params.data.labels or read_model_meta(params.paths.model)["labels"])
    y_true = np.array([labels.index(label) if label in labels else -1 for label in test["label"]])
    index = {label: i for i, label in enumerate(labels)}
    predicted = {who: np.array([index.get(label, -1) for label in reused[who]]) if reused.get(who) is not None
                 else predict_ids(params, uri, test["text"].astype(str).tolist(), labels) for who, uri in uris.items()}
    names = dict.fromkeys([*TASK_METRICS["classification"], rule.primary_metric, *rule.guarded, *rule.floors])
    metrics = {who: {name: round(float(score_rows(name, y_true, rows, labels)), 6) for name in names}
               for who, rows in predicted.items()}
    return metrics, lambda seed: classification_significance(rule, y_true, predicted["champion"],
                                                             predicted["challenger"], labels, seed)


def score_translators(params: Params, test: pd.DataFrame, uris: dict[str, str], reused: dict[str, list[str] | None]):
    """BLEU and chrF of each model's outputs on the test pairs; significance by a paired bootstrap of sentences."""
    from tasks.predict import load_registered
    from tasks.promotion_rule import check_significance
    from tasks.seq2seq_metrics import corpus_scores, score_from_stats, sentence_stats

    sources, refs = test["source"].astype(str).tolist(), test["target"].astype(str).tolist()
    hyps = {who: reused[who] if reused.get(who) is not None else load_registered(params, uri).predict(sources)
            for who, uri in uris.items()}
    scores = {who: corpus_scores(out, refs) for who, out in hyps.items()}  # each corpus scored once
    metrics = {who: {name: found[name] for name in TASK_METRICS["seq2seq"]} for who, found in scores.items()}

    def significance(seed: int) -> dict:
        name = params.promote.primary_metric
        stats = {who: sentence_stats(name, out, refs) for who, out in hyps.items()}
        difference = lambda rows: score_from_stats(name, stats["challenger"][rows]) - \
            score_from_stats(name, stats["champion"][rows])
        return check_significance(params.promote, len(refs), difference, seed)

    return metrics, significance


def promote_model(params: Params, challenger: ModelVersion, data_version: str, actor: str) -> Promotion:
    """Compare, decide, record; the champion alias moves only on a pass."""
    from tasks import champion as registry_ops
    from tasks import tracking
    from tasks.predictions import fetch_run_predictions, read_predictions
    from tasks.promotion_rule import decide

    client, rule, name = tracking.client(params), params.promote, params.registry.model_name
    test = pd.read_parquet(Path(params.paths.validated) / "test.parquet")
    current = registry_ops.current_champion(client, params)
    uris = {"challenger": f"models:/{name}/{challenger.version}"}
    if current is not None:
        uris["champion"] = f"models:/{name}/{current.version}"
    scorer = score_translators if params.task == "seq2seq" else score_classifiers
    # evaluate already scored the challenger on these rows, and the champion too when it was trained on this data
    # version; a champion from an older data version is scored here, on the new test split.
    reused = {"challenger": read_predictions(params, challenger.run_id, len(test)),
              "champion": current and fetch_run_predictions(client, current, data_version, len(test))}
    metrics, significance_of = scorer(params, test, uris, reused)
    significance = None if current is None or rule.significance.test == "none" else significance_of(params.project.seed)
    verdict = decide(rule, metrics["challenger"], metrics.get("champion"), significance)
    before = current and str(current.version)
    decision = {"time": registry_ops.now(), "by": actor, "kind": "automatic", "model_name": name,
                "data_version": data_version, "test_rows": len(test), "challenger_version": challenger.version,
                "champion_before": before, "champion_after": challenger.version if verdict.promoted else before,
                "verdict": "promoted" if verdict.promoted else "rejected", "reasons": verdict.reasons,
                "metrics": metrics, "deltas": verdict.deltas, "significance": verdict.significance,
                "predictions_reused": sorted(who for who in uris if reused.get(who) is not None),
                "rule": rule.model_dump(mode="json")}
    if verdict.promoted:
        history = registry_ops.champion_history(client, name)
        registry_ops.move_champion(client, params, challenger.version, [*history, challenger.version])
        failpoint("promote:moved")
    # The verdict last: a run stopped before it leaves the version undecided, which the next run does not take as
    # done (find_unchanged), rather than a "promoted" version that never got the alias.
    registry_ops.record_decision(client, params, challenger.version, decision, "promotion.json")
    return Promotion(promoted=verdict.promoted, reason="; ".join(verdict.reasons), champion_before=before,
                     champion_after=decision["champion_after"], deltas=verdict.deltas, path=params.paths.promotion)


def actor() -> str:
    """Who decided: the Prefect deployment when a schedule started the run, else the user."""
    from prefect.runtime import deployment, flow_run

    from tasks.champion import user

    who = f"deployment {deployment.name}" if deployment.name else f"user {user()}"
    return f"{who} (flow run {flow_run.name})" if flow_run.name else who


@step
def check_changes(params: Params, data_version: str) -> str | None:
    """The version already trained on this data version with these params, if any: then there is nothing to do."""
    from tasks import tracking
    from tasks.champion import find_unchanged

    return find_unchanged(tracking.client(params), params, data_version)


@step
def promote(params: Params, challenger: ModelVersion, data_version: str) -> Promotion:
    return promote_model(params, challenger, data_version, actor())


def main(params: Params) -> None:
    from tasks.champion import user

    registered = json.loads(Path(params.paths.registered).read_text())
    challenger = ModelVersion(**registered)
    result = promote_model(params, challenger, challenger.tags["data_version"], f"user {user()} (dvc repro)")
    print(json.dumps(result.__dict__, indent=1))


if __name__ == "__main__":
    run_entry(main)

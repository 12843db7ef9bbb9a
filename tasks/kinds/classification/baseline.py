"""The classification baseline: every test row given the training split's most common label, scored as promote
scores the models (the same label list, the same vectorised metrics)."""

from __future__ import annotations

import pandas as pd

from tasks.core.config import TASK_METRICS, Params


def known_labels(params: Params, train: pd.DataFrame) -> list[str]:
    """The labels promote scores over: params' own, else the trained model's, else the training split's."""
    from tasks.training.checkpoints import read_model_meta

    found = params.data.labels or read_model_meta(params.paths.model, missing_ok=True).get("labels")
    return list(found or sorted(train["label"].astype(str).unique()))


def majority_baseline(params: Params, train: pd.DataFrame, test: pd.DataFrame) -> tuple[str, dict[str, float]]:
    """("majority label 'X'", its metrics on the test rows); a tie goes to the label first in the label list."""
    import numpy as np

    from tasks.registry.promotion_rule import score_rows

    labels = known_labels(params, train)
    counts = train["label"].astype(str).value_counts()
    majority = max(labels, key=lambda label: (counts.get(label, 0), -labels.index(label)))
    y_true = np.array([labels.index(label) if label in labels else -1 for label in test["label"].astype(str)])
    y_pred = np.full(len(y_true), labels.index(majority))
    rule = params.promote
    names = dict.fromkeys([*TASK_METRICS["classification"], rule.primary_metric, *rule.guarded, *rule.floors])
    return f"majority label {majority!r}", {name: round(float(score_rows(name, y_true, y_pred, labels)), 6)
                                            for name in names}

"""Classification metrics with scikit-learn: one flat dict with prefixes, shared by train and evaluate."""

from __future__ import annotations

import re
from collections.abc import Sequence


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str],
                           prefix: str = "eval_", per_class: bool = True) -> dict[str, float]:
    """accuracy, macro precision/recall/F1 and, when asked, the same per class, under `prefix`."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    ids = list(range(len(labels)))
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=ids, average="macro", zero_division=0)
    metrics = {"accuracy": accuracy_score(y_true, y_pred), "precision_macro": precision,
               "recall_macro": recall, "f1_macro": f1}
    if per_class:
        scores = precision_recall_fscore_support(y_true, y_pred, labels=ids, average=None, zero_division=0)
        for name, p, r, f in zip(labels, *scores[:3]):
            # MLflow keys allow letters, digits and _-./ and spaces; labels may hold anything.
            safe = re.sub(r"[^\w\-. /]", "_", str(name))
            metrics |= {f"precision_{safe}": p, f"recall_{safe}": r, f"f1_{safe}": f}
    return {f"{prefix}{key}": round(float(value), 6) for key, value in metrics.items()}

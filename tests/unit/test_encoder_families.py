"""Every encoder family of tests/families.py as a classifier and as a span model: a tiny random-weight checkpoint
(model.pretrained: its folder) fine-tuned a few dozen steps by the kind's own tokenizer and trainer, exported (ONNX,
int8 ONNX, torch.export), each export's parity record checked, the exports answering as eager PyTorch does, and the
monitor's embeddings; then each tokenizer quirk the kinds handle. No MLflow, no flow.

`pytest -s` prints one line per family and kind: the figures of the family table in docs/kinds.md."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.core.config import load_params
from tests.conftest import REPO
from tests.families import ENCODERS, FAMILIES, build_tokenizer, cached_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (tests/conftest.py)

# (params file, data, training steps): qa's answers need more steps to stand clear of a tie than 3 labels do.
KINDS = {"classification": ("params.yaml", "builtin:reviews", 40), "qa": ("params.qa.yaml", "builtin:facts", 120)}
ROWS = 400  # half to train, a quarter each to validation (the int8 choice) and test (the parity check)
EXPORTS = ("onnx", "onnx-int8", "torch-export")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("families")




def fine_tune(kind_name: str, checkpoint: Path):
    """params, model folder: the checkpoint with the kind's head, trained a few dozen steps on the built-in data
    (enough to put most answers clear of a tie, so that int8's parity is the export's and not a coin's)."""
    import torch
    from transformers import AutoTokenizer

    from tasks.core.records import TokenizedData
    from tasks.kinds import get_kind

    torch.manual_seed(0)
    base, source, steps = KINDS[kind_name]
    params = load_params(REPO / base, [f"model.pretrained={checkpoint}", f"train.max_steps={steps}",
                                       "train.batch_size=16", "train.warmup_steps=0", "train.learning_rate=0.005",
                                       "train.early_stopping_patience=0"])
    kind = get_kind(kind_name)
    rows = kind.make_builtin(source, ROWS, 3)
    quarter = ROWS // 4
    splits = {"train": rows[:2 * quarter], "validation": rows[2 * quarter:3 * quarter], "test": rows[3 * quarter:]}
    splits = {name: frame.reset_index(drop=True) for name, frame in splits.items()}
    validated, tokenized = Path(params.paths.validated), Path(params.paths.tokenized)
    for folder in (validated, tokenized):
        folder.mkdir(parents=True)
    for name, frame in splits.items():
        frame.to_parquet(validated / f"{name}.parquet")
    labels, _ = kind.tokenize_splits(splits, params, str(checkpoint), tokenized)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenized / "tokenizer"))
    tokens = TokenizedData(path=str(tokenized), cache_key="families", tokenizer_path=str(tokenized / "tokenizer"))
    trainer = kind.build_trainer(params, tokens, tokenizer, labels, Path("checkpoints"), [], False)
    trainer.train()
    model_dir = Path(params.paths.model)
    kind.save_model(trainer, model_dir)
    tokenizer.save_pretrained(str(model_dir))
    (model_dir / "lmforge.json").write_text(json.dumps({"labels": labels}))
    return params, model_dir, splits["test"]


def answers_of(params, folder: Path, backend: str, test: pd.DataFrame, monkeypatch) -> list:
    """What a user of the backend gets on the test rows, through the registered model's own code: labels (the
    classifier's scorer), or answer strings (qa's pyfunc, its export fetched from `folder` instead of MLflow)."""
    if params.task == "classification":
        from tasks.registry.backends import TextScorer, label_texts

        return [label for label, _ in label_texts(TextScorer(folder, backend), test["text"].tolist())]
    import tasks.registry.registered as registered
    from tasks.kinds.qa.model import Answerer
    from tasks.registry.pyfunc import INPUT_SEPARATOR

    monkeypatch.setattr(registered, "fetch_run_export", lambda client, run_id, name: folder)
    monkeypatch.setattr("mlflow.MlflowClient", lambda: None)  # no tracking store: the export is here already
    model = Answerer()
    model.folder, model.run_id, model.params, model.answerers = folder, "r1", params, {}
    texts = [f"{q}{INPUT_SEPARATOR}{c}" for q, c in zip(test["question"], test["context"])]
    return [row["answer"] for row in model.predict(None, texts, {"backend": backend})]


def check_segments_reach_the_graph(out: Path, family: str) -> None:
    """The qa graph reads token_type_ids where the family's tokenizer gives them, and they change its logits."""
    import onnxruntime
    from transformers import AutoTokenizer

    session = onnxruntime.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [item.name for item in session.get_inputs()]
    assert ("token_type_ids" in names) == FAMILIES[family].segment_ids, names
    # DeBERTa-v2 takes them and, with type_vocab_size 0 (as DeBERTa-v3 ships), reads nothing from them.
    if "token_type_ids" not in names or not json.loads((out / "config.json").read_text()).get("type_vocab_size"):
        return
    encoded = AutoTokenizer.from_pretrained(str(out))(["Where did Tom go?"], ["Tom went to Oslo."],
                                                       return_tensors="np", return_token_type_ids=True)
    feed = {name: encoded[name].astype(np.int64) for name in names}
    plain = session.run(None, feed | {"token_type_ids": np.zeros_like(feed["token_type_ids"])})[0]
    assert feed["token_type_ids"].any() and not np.allclose(session.run(None, feed)[0], plain)


@pytest.mark.matrix  # trains and exports every family: make test-matrix
@pytest.mark.parametrize("family", ENCODERS)
@pytest.mark.parametrize("kind_name", list(KINDS))
def test_each_encoder_family_trains_exports_and_answers_like_eager(kind_name, family, checkpoints, root, monkeypatch,
                                                                    one_thread):
    from tasks.export import export_dir, export_model, summarize_export
    from tasks.kinds.qa.quantize import MIN_AGREEMENT
    from tasks.monitoring.signals import embed_texts

    params, model_dir, test = fine_tune(kind_name, cached_checkpoint(family, checkpoints))
    record = export_model(params, model_dir, test)
    chosen = record["onnx-int8"].get("quantization", {})
    print(f"\n{kind_name:<14} {family:<12} {summarize_export(record)}  int8: fallback gap "
          f"{chosen.get('fallback_gap')} ({chosen.get('validation_fallback_share')} of the rows to fp32), validation "
          f"{chosen.get('validation_agreement')}, max |dlogit| onnx {record['onnx']['max_abs_logit_diff']:.1g}")
    for backend in EXPORTS:
        result = record[backend]
        assert "error" not in result, result
        assert result["status"] == ("passed" if result["agreement"] >= MIN_AGREEMENT else "failed"), result
    assert record["onnx"]["status"] == record["torch-export"]["status"] == "passed", record
    assert record["onnx"]["max_abs_logit_diff"] < 1e-3 and record["onnx-int8"]["agreement"] >= 0.95, record
    out = export_dir(params)
    eager, served = answers_of(params, model_dir, "eager", test, monkeypatch), answers_of(params, out, "onnx", test,
                                                                                        monkeypatch)
    assert np.mean([a == b for a, b in zip(served, eager)]) >= MIN_AGREEMENT
    if kind_name == "qa":
        check_segments_reach_the_graph(out, family)
    vectors = embed_texts(model_dir, test["text" if kind_name == "classification" else "context"].tolist()[:8])
    assert vectors.shape[0] == 8 and np.isfinite(vectors).all() and vectors.std(0).max() > 0


@pytest.mark.parametrize("family", ["roberta", "modernbert", "xlm-roberta", "deberta-v2", "bert"])
def test_qa_windows_cut_answers_without_the_space_before_a_word(family):
    """Byte-level BPE (RoBERTa, ModernBERT) and SentencePiece (XLM-R, DeBERTa-v2) tokens count the space before a
    word as theirs ("ĠOslo", "▁12"): the answer's token span and the text cut back from it hold the answer alone."""
    from tasks.kinds.qa.metrics import pick_answers
    from tasks.kinds.qa.tokenize import encode_windows

    tokenizer = build_tokenizer(FAMILIES[family])
    context = "Tom went to Oslo on Friday. Anna bought 12 lamps."
    for answer in ("Oslo", "12 lamps", "Tom"):
        windows = encode_windows(tokenizer, ["What?"], [context], 64, 16, answers=[answer])
        start, end = int(windows["start_positions"][0]), int(windows["end_positions"][0])
        offsets = [list(offset) for offset in windows["offsets"][0]]
        assert 0 < start <= end and context[offsets[start][0]:offsets[end][1]] == answer, (family, answer, offsets)
        logits = [np.where(np.arange(len(offsets)) == position, 9.0, 0.0) for position in (start, end)]
        assert pick_answers([0], [offsets], [logits[0]], [logits[1]], [context], 30)[0][0] == answer


def test_the_position_limit_leaves_out_roberta_style_padding_offsets(checkpoints):
    from tasks.registry.backends import position_limit

    assert position_limit(cached_checkpoint("roberta", checkpoints)) == 512  # 514 embeddings, numbered from pad + 1
    assert position_limit(cached_checkpoint("bert", checkpoints)) == 512

"""The pure cores of task qa: SQuAD metrics, answer starts, windows, span post-processing, the generator, a smoke."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from tasks.core.config import load_params
from tests.conftest import REPO


def qa_params(*overrides: str):
    return load_params(REPO / "params.qa.yaml", list(overrides))


@pytest.mark.parametrize("prediction, reference, em, f1", [
    ("The Eiffel Tower", "eiffel tower", 1.0, 1.0),  # case and the article go
    ("Oslo, Norway.", "oslo norway", 1.0, 1.0),  # punctuation goes
    ("in Oslo", "Oslo", 0.0, 2 / 3),  # P 1/2, R 1: 2PR/(P+R) = 2/3
    ("42 red apples", "red apples today", 0.0, 2 / 3),  # 2 shared of 3 and 3
    ("Bergen", "Oslo", 0.0, 0.0),
    ("a", "the", 1.0, 0.0),  # both normalise to nothing: equal, but v1.1's F1 needs a shared token
])
def test_squad_exact_match_and_f1(prediction, reference, em, f1):
    from tasks.kinds.qa.metrics import exact_match, token_f1

    assert exact_match(prediction, reference) == em
    assert token_f1(prediction, reference) == pytest.approx(f1)


def test_corpus_scores_are_means_times_100():
    from tasks.kinds.qa.metrics import score_answers

    scores = score_answers(["Oslo", "in Oslo", "Bergen", "12"], ["Oslo", "Oslo", "Oslo", "12"])
    assert scores == {"exact_match": 50.0, "f1": pytest.approx(100 * (1 + 2 / 3 + 0 + 1) / 4, abs=1e-4)}


@pytest.mark.parametrize("context, answer, start, expected", [
    ("Tom is 12. Ann is 12.", "12", None, 7),  # absent start: the first occurrence
    ("Tom is 12. Ann is 12.", "12", "18", 18),  # a given start that holds the answer
    ("Tom is 12. Ann is 12.", "12", 18.0, 18),
    ("Tom is 12. Ann is 12.", "12", "3", -1),  # a given start where the answer is not
    ("Tom is 12.", "13", None, -1),
    ("Tom is 12.", "12", "x", -1),
    ("Tom is 12.", "12", float("nan"), 7),  # NaN is an absent start
])
def test_locate_answer(context, answer, start, expected):
    from tasks.kinds.qa.checks import locate_answer

    assert locate_answer(context, answer, start) == expected


def small_tokenizer(texts: list[str]):
    from tasks.training.tokenizer_io import train_wordpiece

    return train_wordpiece(texts, qa_params("tokenize.vocab_size=200", "tokenize.min_frequency=1"), segment_ids=True)


def test_long_context_windows_point_at_the_answer():
    from tasks.kinds.qa.tokenize import NO_OFFSET, encode_windows

    filler = " ".join(f"Person{i} went to Lyon on Monday." for i in range(12))
    context = f"{filler} Maria bought 37 lamps. {filler}"
    question = "How many lamps did Maria buy?"
    tokenizer = small_tokenizer([context, question])
    windows = encode_windows(tokenizer, [question], [context], max_length=32, stride=8, answers=["37 lamps"])
    assert len(windows) > 5 and set(windows["example"]) == {0}
    holding = windows[windows["start_positions"] > 0]
    assert len(holding) >= 1 and len(holding) < len(windows)  # most windows point at [CLS]
    for _, window in holding.iterrows():
        start, end = window["start_positions"], window["end_positions"]
        assert tokenizer.decode(window["input_ids"][start:end + 1]) == "37 lamps"
        assert context[window["offsets"][start][0]:window["offsets"][end][1]] == "37 lamps"
        # question tokens have no offsets: only context tokens can be cut out as an answer
        assert list(window["offsets"][1]) == NO_OFFSET and window["token_type_ids"][1] == 0
    # consecutive windows share `stride` context tokens
    first, second = ([tuple(o) for o in windows["offsets"][i] if o[0] >= 0] for i in (0, 1))
    assert first[-8:] == second[:8] and first[0] == (0, 7)  # "Person0"


def test_best_span_across_windows():
    from tasks.kinds.qa.metrics import pick_answers

    context = "Ann went to Oslo on Monday."
    # Two windows of example 0 (tokens: [CLS] q [SEP] ctx...), one of example 1; offsets of the context tokens.
    question_part = [[-1, -1]] * 3
    ann, went, to, oslo, on, monday = [0, 3], [4, 8], [9, 11], [12, 16], [17, 19], [20, 26]
    offsets = [question_part + [ann, went, to], question_part + [to, oslo, on, monday], question_part + [ann, went]]
    low = -5.0
    # Window 0 prefers "Ann"; window 1 is surer of "Oslo"; a question token has the highest logit of all but is no
    # context token, and in window 1 the best end comes before the best start, which is no span.
    start0, end0 = [low, 9, low, 1.0, low, low], [low, 9, low, 1.0, low, low]
    start1, end1 = [low, low, low, low, 6.0, low, 5.0], [low, low, low, 7.0, 6.0, low, low]
    start2, end2 = [low, low, low, 3.0, 1.0], [low, low, low, low, 3.0]
    answers = pick_answers([0, 0, 1], offsets, [start0, start1, start2], [end0, end1, end2], [context, context], 30)
    assert answers[0][0] == "Oslo" and 0 < answers[0][1] < 1
    assert answers[1][0] == "Ann went"
    # A span limit of one token leaves "Ann" (3 + low) or "went" (1 + 3) for example 1.
    assert pick_answers([0], [offsets[2]], [start2], [end2], [context], 1)[0][0] == "went"
    assert pick_answers([], [], [], [], [context], 30) == [("", 0.0)]


def test_builtin_facts_are_deterministic_and_answerable():
    from tasks.kinds.qa.builtin import generate_facts

    first, again, other = generate_facts(300, 5), generate_facts(300, 5), generate_facts(300, 6)
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)
    assert list(first.columns) == ["context", "question", "answer"] and len(first) == 300
    assert not first.duplicated(["context", "question"]).any()
    assert all(context.count(answer) == 1 for context, answer in zip(first["context"], first["answer"]))
    assert first["context"].str.count(r"\.").between(2, 4).all()


def test_kind_module_defines_the_interface():
    from tasks.kinds import base, get_kind

    kind = get_kind("qa")
    names = [name for name in vars(base.TaskKind) if not name.startswith("_")] + list(base.TaskKind.__annotations__)
    assert [name for name in names if not hasattr(kind, name)] == []
    params = qa_params("data.answer_start_column=start")
    assert kind.source_columns(params.data)["answer_start_column"] == "start"
    assert kind.format_outputs([{"answer": "Oslo", "score": 0.5}]) == [("Oslo", 0.5)]


def test_training_smoke(root):
    """A tiny model from scratch, a few dozen steps on ~300 builtin rows: a finite loss, and eval.json with both
    metrics."""
    import torch

    from tasks.kinds import get_kind
    from tasks.core.records import TokenizedData

    torch.set_num_threads(1)
    params = qa_params("train.epochs=2", "train.batch_size=16", "train.warmup_steps=5", "tokenize.vocab_size=200",
                       "model.from_scratch.hidden_size=32", "model.from_scratch.heads=2",
                       "model.from_scratch.intermediate_size=64", "model.from_scratch.layers=1", "evaluate.samples=3")
    kind = get_kind("qa")
    rows = kind.make_builtin("builtin:facts", 300, 3)
    splits = {"train": rows[:240].reset_index(drop=True), "validation": rows[240:270].reset_index(drop=True),
              "test": rows[270:].reset_index(drop=True)}
    validated, tokenized = root / params.paths.validated, root / params.paths.tokenized
    for folder in (validated, tokenized):
        folder.mkdir(parents=True)
    for name, frame in splits.items():
        frame.to_parquet(validated / f"{name}.parquet")
    labels, name = kind.tokenize_splits(splits, params, None, tokenized)
    assert (labels, name) == (None, "wordpiece")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tokenized / "tokenizer"))
    tokens = TokenizedData(path=str(tokenized), cache_key="smoke", tokenizer_path=str(tokenized / "tokenizer"))
    trainer = kind.build_trainer(params, tokens, tokenizer, None, root / "checkpoints", [], False)
    result = trainer.train()
    assert result.global_step >= 20 and math.isfinite(result.training_loss)
    model_dir = root / params.paths.model
    kind.save_model(trainer, model_dir)
    metrics, files = kind.evaluate_model(params, model_dir, False)
    assert {"eval_exact_match", "eval_f1"} <= set(metrics) and metrics["eval_rows"] == 30
    saved = json.loads((root / params.paths.metrics / "eval.json").read_text())
    assert 0 <= saved["eval_exact_match"] <= 100 and 0 <= saved["eval_f1"] <= 100
    assert len(json.loads((root / params.paths.metrics / "samples.json").read_text())) == 3
    assert len(pd.read_parquet(root / params.paths.metrics / "predictions.parquet")) == 30
    assert np.isfinite(saved["eval_f1"])


def test_promotion_scores_reused_answers_per_question():
    """Reused test answers are scored without loading a model; the bootstrap resamples per-question F1."""
    from tasks.kinds import get_kind

    test = pd.DataFrame({"context": ["c"] * 40, "question": ["q"] * 40, "answer": ["Oslo"] * 20 + ["12 lamps"] * 20})
    reused = {"challenger": ["Oslo"] * 20 + ["12"] * 20, "champion": ["Bergen"] * 20 + ["12 lamps"] * 20}
    metrics, significance, _ = get_kind("qa").score_models(qa_params(), test, {"challenger": "x", "champion": "y"}, reused)
    assert metrics == {"challenger": {"exact_match": 50.0, "f1": pytest.approx(100 * (20 + 20 * 2 / 3) / 40, abs=1e-4)},
                       "champion": {"exact_match": 50.0, "f1": 50.0}}
    result = significance(13)
    assert result["test"] == "bootstrap" and result["passed"] and result["ci_low"] > 0

"""qa's exports, the pure parts: answer margins, the int8 fallback's gap and its re-run in fp32, offsets without the
space before a word, and the pyfunc's backends. Exports of real models: tests/unit/test_encoder_families.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasks.core.config import load_params
from tests.conftest import REPO

CONTEXT = "Ann went to Oslo on Monday."
QUESTION = [[-1, -1]] * 3  # [CLS] question [SEP]: no context offsets
ANN, WENT, TO, OSLO, ON, MONDAY = [0, 3], [4, 8], [9, 11], [12, 16], [17, 19], [20, 26]


def one_hot(length: int, position: int, high: float) -> np.ndarray:
    return np.where(np.arange(length) == position, high, 0.0)


def test_an_answer_margin_is_measured_against_another_text_not_the_same_span_in_another_window():
    from tasks.kinds.qa.metrics import rank_answers

    offsets = [QUESTION + [TO, OSLO, ON], QUESTION + [OSLO, ON, MONDAY]]
    # Both windows are sure of "Oslo" (the same text twice); the next best span is another text.
    starts = [one_hot(6, 4, 6.0), one_hot(6, 3, 6.0)]
    ends = [one_hot(6, 4, 6.0), one_hot(6, 3, 6.0)]
    (text, score, margin), = rank_answers([0, 0], offsets, starts, ends, [CONTEXT], 30)
    assert text == "Oslo" and score > -0.1 and margin > 1.0
    # Nothing in the context: no answer, and no margin to fall back for.
    assert rank_answers([0], [QUESTION], [np.zeros(3)], [np.zeros(3)], [CONTEXT], 30) == [("", -np.inf, np.inf)]


def test_the_fallback_gap_covers_how_far_int8_moved_the_scores_and_keeps_the_validation_answers():
    from tasks.kinds.qa.quantize import pick_fallback_gap

    fp32 = [("Oslo", -0.1, 2.0)] * 95 + [("Ann", -0.7, 0.01)] * 5
    assert pick_fallback_gap(fp32, fp32) is None  # int8 moved nothing
    int8 = [("Oslo", -0.11, 2.0)] * 95 + [("went", -0.69, 0.015)] * 5  # five near ties flipped
    assert pick_fallback_gap(int8, fp32) == 0.02  # twice the scores' 99th-percentile shift, which takes all five
    int8[95:] = [("went", -0.69, 0.3)] * 5  # flips further from a tie: widened to 0.5, the first grid gap taking them
    assert pick_fallback_gap(int8, fp32) == 0.5
    wide = [("Oslo", -0.11, 0.03)] * 95 + int8[95:]  # every question near a tie: fp32 would answer all of them
    assert pick_fallback_gap(wide, fp32) is None


def test_int8_questions_near_a_tie_are_answered_again_by_fp32_whole():
    from tasks.kinds.qa.evaluate import score_windows
    from tasks.kinds.qa.spans import Spans

    params = load_params(REPO / "params.qa.yaml")
    # Two windows of question 0, one of question 1; each window's first id says which it is.
    windows = pd.DataFrame({"input_ids": [[10, 0, 0, 0, 0, 0], [11, 0, 0, 0, 0, 0], [12, 0, 0, 0, 0, 0]],
                            "example": [0, 0, 1],
                            "offsets": [QUESTION + [ANN, WENT, TO], QUESTION + [TO, OSLO, ON], QUESTION + [ANN, WENT, TO]]})

    class Pad:  # the tokenizer's pad, as run_windows calls it
        def pad(self, rows, **_):
            return {"input_ids": np.array([row["input_ids"] for row in rows]),
                    "attention_mask": np.ones((len(rows), 6), dtype=np.int64)}

    def int8(batch):  # question 0 on a tie between "Ann", "to" and "Ann went to"; question 1 sure of "went"
        rows = [one_hot(6, 3, 5.0) + one_hot(6, 5, 5.0) if first < 12 else one_hot(6, 4, 9.0)
                for first in batch["input_ids"][:, 0]]
        return np.array(rows), np.array(rows)

    asked = []

    def fp32(batch):  # sure of "Oslo", in question 0's second window
        asked.append(batch["input_ids"][:, 0].tolist())
        rows = [one_hot(6, 4, 9.0) if first == 11 else np.zeros(6) for first in batch["input_ids"][:, 0]]
        return np.array(rows), np.array(rows)

    plain, _, _ = score_windows(Spans(int8), Pad(), windows, [CONTEXT, CONTEXT], params)
    assert plain[0][0] != "Oslo" and plain[0][2] < 0.01 and plain[1][0] == "went" and plain[1][2] > 1
    spans = Spans(int8, (Spans(fp32), 0.5))
    ranked, starts, _ = score_windows(spans, Pad(), windows, [CONTEXT, CONTEXT], params)
    assert asked == [[10, 11]]  # every window of the tied question, no other
    assert [text for text, *_ in ranked] == ["Oslo", "went"] and np.allclose(starts[1], one_hot(6, 4, 9.0))


@pytest.mark.parametrize("offset, expected", [((3, 8), [4, 8]), ((12, 17), [12, 16]), ((3, 4), [3, 3]), ((0, 3), [0, 3])])
def test_a_context_token_offset_leaves_out_the_spaces_around_it(offset, expected):
    from tasks.kinds.qa.tokenize import trim_offset

    assert trim_offset(CONTEXT, offset) == expected  # " went", "Oslo ", " " alone, "Ann"


def test_the_qa_pyfunc_refuses_an_unknown_backend_and_a_version_without_a_passed_export(tmp_path, monkeypatch):
    from tasks.core.errors import LmforgeError
    from tasks.kinds.qa.model import Answerer

    model = Answerer()
    model.folder, model.run_id, model.params, model.answerers = tmp_path, "r1", load_params(REPO / "params.qa.yaml"), {}
    with pytest.raises(LmforgeError, match="backend 'fast' is unknown"):
        model.load_backend("fast")

    class NoExport:  # a run whose export/ holds nothing: parity.json absent
        def list_artifacts(self, run_id, path):
            return []

        def download_artifacts(self, run_id, path, target):
            raise OSError("absent")

        def search_model_versions(self, query):
            return [type("Version", (), {"name": "facts", "version": "3"})]

    monkeypatch.setattr("mlflow.MlflowClient", NoExport)
    with pytest.raises(LmforgeError, match="facts version 3 has no onnx export that passed its parity check"):
        model.load_backend("onnx")  # what serve catches to run eager instead

"""evaluate and promote for question answering: the eager model's start/end logits over windows, turned into one
answer per question (tasks.kinds.qa.metrics), scored by SQuAD exact match and F1. The same windows-to-answers code
runs every backend's logits (tasks.kinds.qa.spans): the exports' parity check and serving answer as evaluate does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from tasks.core.config import Params


def run_windows(run, tokenizer, windows: pd.DataFrame, batch_size: int, show_progress: bool = False):
    """(start logits, end logits) per window, in the frame's order, each cut to its window's own length; windows of
    similar length are batched together so that padding costs little. `run`: a backend's span function
    (tasks.kinds.qa.spans), so that every backend's logits go through the same post-processing."""
    from tqdm.auto import tqdm

    keys = [key for key in ("input_ids", "token_type_ids") if key in windows.columns]
    rows = [{key: [int(v) for v in windows[key].iloc[i]] for key in keys} for i in range(len(windows))]
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["input_ids"]))
    starts, ends = [None] * len(rows), [None] * len(rows)
    for first in tqdm(range(0, len(order), batch_size), desc="answer", disable=not show_progress):
        chunk = order[first:first + batch_size]
        batch = tokenizer.pad([rows[i] for i in chunk], return_tensors="np", return_attention_mask=True)
        start, end = run({key: np.asarray(value, dtype=np.int64) for key, value in batch.items()})
        for k, i in enumerate(chunk):
            length = len(rows[i]["input_ids"])
            starts[i], ends[i] = start[k, :length], end[k, :length]
    return starts, ends


def score_windows(spans, tokenizer, windows: pd.DataFrame, contexts: list[str], params: Params,
                  show_progress: bool = False) -> tuple[list[tuple[str, float, float]], list, list]:
    """(answer, log-probability, margin) per context from its windows (tasks.kinds.qa.tokenize.encode_windows'
    frame), and the start and end logits per window that gave them. `spans`: tasks.kinds.qa.spans.Spans; where it
    has a fallback, the windows of the questions nearer a tie than its gap are run again by the fp32 model."""
    from tasks.kinds.qa.metrics import rank_answers

    examples, offsets, size = windows["example"].tolist(), windows["offsets"].tolist(), params.evaluate.batch_size
    starts, ends = run_windows(spans.run, tokenizer, windows, size, show_progress)
    ranked = rank_answers(examples, offsets, starts, ends, contexts, params.evaluate.max_answer_tokens)
    if spans.fallback is None:
        return ranked, starts, ends
    fp32, gap = spans.fallback
    near = {k for k, (_, _, margin) in enumerate(ranked) if margin < gap}
    picks = [w for w, example in enumerate(examples) if example in near]
    if picks:
        again = run_windows(fp32.run, tokenizer, windows.iloc[picks], size)
        for w, start, end in zip(picks, *again):
            starts[w], ends[w] = start, end
        ranked = rank_answers(examples, offsets, starts, ends, contexts, params.evaluate.max_answer_tokens)
    return ranked, starts, ends


def answer_windows(spans, tokenizer, windows: pd.DataFrame, contexts: list[str], params: Params,
                   show_progress: bool = False) -> list[tuple[str, float]]:
    """(answer, probability) per context from its windows; ("", 0.0) where no span fits."""
    ranked, _, _ = score_windows(spans, tokenizer, windows, contexts, params, show_progress)
    return [(text, float(np.exp(score))) for text, score, _ in ranked]


def answer_questions(spans, tokenizer, questions: list[str], contexts: list[str], params: Params) -> list[tuple[str, float]]:
    """(answer, probability) per (question, context): windows as tokenize cuts them, then the best span."""
    from tasks.kinds.qa.tokenize import encode_windows

    if not questions:
        return []
    windows = encode_windows(tokenizer, questions, contexts, params.tokenize.max_length, params.tokenize.stride)
    return answer_windows(spans, tokenizer, windows, contexts, params)


def answer_split(params: Params, spans, tokenizer, split: str, show_progress: bool = False) -> tuple[pd.DataFrame, list[str], dict]:
    """(the split's rows, the model's answers, SQuAD exact match and F1) on a split's tokenized windows."""
    from tasks.kinds.qa.metrics import score_answers

    rows = pd.read_parquet(Path(params.paths.validated) / f"{split}.parquet")
    windows = pd.read_parquet(Path(params.paths.tokenized) / f"{split}.parquet")
    answers = answer_windows(spans, tokenizer, windows, rows["context"].astype(str).tolist(), params, show_progress)
    predicted = [answer for answer, _ in answers]
    return rows, predicted, score_answers(predicted, rows["answer"].astype(str).tolist())


def evaluate_answers(params: Params, model_dir: str | Path, show_progress: bool = True) -> tuple[dict, list[str]]:
    """The pure core: answers on the test split's tokenized windows (and the validation split's, whose scores are
    what settings are chosen by); metrics/eval.json and samples.json; returns the metrics and the files written."""
    from tasks.training.loading import load_trained_tokenizer

    from tasks.kinds.qa.spans import load_spans
    from tasks.registry.predictions import write_predictions

    spans = load_spans(model_dir, "eager")
    tokenizer = load_trained_tokenizer(model_dir)
    test, predicted, scores = answer_split(params, spans, tokenizer, "test", show_progress)
    _, _, validation = answer_split(params, spans, tokenizer, "validation")
    metrics = {"eval_exact_match": scores["exact_match"], "eval_f1": scores["f1"], "eval_rows": float(len(test)),
               "eval_val_exact_match": validation["exact_match"], "eval_val_f1": validation["f1"]}
    out = Path(params.paths.metrics)
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(metrics, indent=1, sort_keys=True))
    refs = test["answer"].astype(str).tolist()
    samples = [{"question": q, "context": c, "reference": r, "prediction": p}
               for q, c, r, p in list(zip(test["question"].astype(str), test["context"].astype(str), refs,
                                          predicted))[:params.evaluate.samples]]
    (out / "samples.json").write_text(json.dumps(samples, indent=1, ensure_ascii=False))
    write_predictions(params, model_dir, predicted)
    return metrics, [str(out / name) for name in ("eval.json", "samples.json")]


def score_answer_models(params: Params, test: pd.DataFrame, uris: dict[str, str], reused: dict[str, list[str] | None]):
    """Exact match and F1 of each model's answers on the test rows; significance by a paired bootstrap of questions
    (or McNemar on exact matches)."""
    from tasks.registry.promotion_rule import check_significance
    from tasks.kinds.qa.metrics import row_scores
    from tasks.registry.pyfunc import INPUT_SEPARATOR
    from tasks.registry.registered import load_registered

    def answers_of(uri: str) -> list[str]:
        texts = [f"{q}{INPUT_SEPARATOR}{c}" for q, c in zip(test["question"].astype(str), test["context"].astype(str))]
        return [str(row["answer"]) for row in load_registered(params, uri).predict(texts)]

    refs = test["answer"].astype(str).tolist()
    answers = {who: reused[who] if reused.get(who) is not None else answers_of(uri) for who, uri in uris.items()}
    per_row = {who: row_scores(out, refs) for who, out in answers.items()}
    metrics = {who: {name: round(float(scores.mean()) if len(scores) else 0.0, 4) for name, scores in rows.items()}
               for who, rows in per_row.items()}

    def significance(seed: int) -> dict:
        name = params.promote.primary_metric
        difference = lambda picks: per_row["challenger"][name][picks].mean(-1) - per_row["champion"][name][picks].mean(-1)
        # McNemar counts questions only one model answers exactly; "right" is an exact match (1 == 1).
        matches = (np.ones(len(refs)), per_row["champion"]["exact_match"] / 100, per_row["challenger"]["exact_match"] / 100)
        return check_significance(params.promote, len(refs), difference, seed, matches)

    return metrics, significance, answers

"""evaluate for chat: the loss on the assistant's tokens of the test and validation conversations, and a greedy
answer to each test conversation's last user turn (everything before its last answer, as a client would send it)
scored against that answer: exact match, ROUGE-L, chrF (samples.json shows some; the answers are the predictions)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tasks.core.config import EvaluateParams, Params


def load_chat_model(folder: str | Path):
    """(model in eval mode, tokenizer with its chat template) of a model folder."""
    from tasks.decoders.adapters import load_decoder
    from tasks.training.loading import load_trained_tokenizer

    tokenizer = load_trained_tokenizer(folder)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return load_decoder(folder), tokenizer


def answer_loss(model, rows: list[dict], batch_size: int, pad_id: int) -> tuple[float, int]:
    """(total negative log-likelihood, tokens) of the assistant's tokens of encoded conversations."""
    from tasks.decoders.scoring import score_batches
    from tasks.kinds.chat.train import collate_conversations

    collate = collate_conversations(pad_id)
    nll, tokens = score_batches(model, (collate(rows[start:start + batch_size])
                                        for start in range(0, len(rows), batch_size)))
    return float(nll.sum()), int(tokens.sum())


def answer_turns(model, tokenizer, prompts: list[list[dict[str, str]]], settings: EvaluateParams,
                 show_progress: bool = False) -> list[str]:
    """A greedy answer to each list of turns (the prompt cut on the left to leave room for max_new_tokens within the
    model's positions)."""
    from tasks.decoders.generate import continue_ids, eager_runner, position_limit
    from tasks.kinds.chat.template import encode_prompt

    limit = position_limit(model.config.to_dict())
    keep = max(limit - settings.max_new_tokens, 1)
    encoded = [encode_prompt(tokenizer, turns)[-keep:] for turns in prompts]
    return continue_ids(tokenizer, encoded, settings, limit, eager_runner(model, tokenizer, False, settings),
                        show_progress)


def evaluate_chat(params: Params, model_dir: str | Path, show_progress: bool = True) -> tuple[dict, list[str]]:
    """The pure core: metrics/eval.json and metrics/samples.json, the predictions; returns metrics and files."""
    from tasks.decoders.scoring import perplexity_of
    from tasks.kinds.chat.conversations import last_answer, prompt_turns
    from tasks.kinds.chat.metrics import score_answers
    from tasks.kinds.chat.train import read_conversations
    from tasks.registry.predictions import write_predictions

    model, tokenizer = load_chat_model(model_dir)
    tokenized, size = params.paths.tokenized, params.evaluate.batch_size
    test_loss = perplexity_of(*answer_loss(model, read_conversations(tokenized, "test"), size, tokenizer.pad_token_id))
    val_loss = perplexity_of(*answer_loss(model, read_conversations(tokenized, "validation"), size,
                                          tokenizer.pad_token_id))
    conversations = pd.read_parquet(Path(params.paths.validated) / "test.parquet")["messages"].tolist()
    references = [last_answer(value) for value in conversations]
    answers = answer_turns(model, tokenizer, [prompt_turns(value) for value in conversations], params.evaluate,
                           show_progress)
    scores = score_answers(answers, references)
    metrics = {"eval_loss": round(test_loss[0], 6), "eval_perplexity": round(test_loss[1], 4),
               "eval_val_loss": round(val_loss[0], 6), "eval_rows": float(len(conversations))} | {
        f"eval_{name}": value for name, value in scores.items()}
    out = Path(params.paths.metrics)
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(metrics, indent=1, sort_keys=True))
    shown = params.evaluate.samples
    samples = [{"prompt": prompt_turns(value)[-1]["content"], "answer": answer, "reference": reference}
               for value, answer, reference in zip(conversations[:shown], answers, references)]
    (out / "samples.json").write_text(json.dumps(samples, indent=1, ensure_ascii=False))
    write_predictions(params, model_dir, answers)  # one answer per test row, as promote's reuse expects
    return metrics, [str(out / name) for name in ("eval.json", "samples.json")]


def score_chat_models(params: Params, test: pd.DataFrame, uris: dict[str, str], reused: dict[str, list[str] | None]):
    """Each model's answers to the test prompts scored as evaluate scores them (saved answers reused where they are
    of the same weights); significance by a paired bootstrap of conversations on the primary metric (or McNemar on
    exact matches)."""
    from tasks.kinds.chat.conversations import as_request, last_answer, prompt_turns
    from tasks.kinds.chat.metrics import row_scores
    from tasks.registry.registered import load_registered

    conversations = test["messages"].tolist()
    requests = [as_request(prompt_turns(value)) for value in conversations]
    references = [last_answer(value) for value in conversations]
    answers = {who: reused[who] if reused.get(who) is not None else
               [str(text) for text in load_registered(params, uri).predict(requests)] for who, uri in uris.items()}
    per_row = {who: row_scores(out, references) for who, out in answers.items()}
    metrics = {who: {name: round(float(scores.mean()) if len(scores) else 0.0, 4) for name, scores in rows.items()}
               for who, rows in per_row.items()}

    def significance(seed: int) -> dict:
        return compare_answers(params, per_row["champion"], per_row["challenger"], seed)

    return metrics, significance, answers


def compare_answers(params: Params, champion: dict, challenger: dict, seed: int) -> dict:
    """The rule's paired test of two models' per-row scores (metrics.row_scores) on the same conversations: a
    bootstrap of the primary metric, or McNemar on exact matches."""
    import numpy as np

    from tasks.registry.promotion_rule import check_significance

    name, rows = params.promote.primary_metric, len(challenger["exact_match"])
    difference = lambda picks: challenger[name][picks].mean(-1) - champion[name][picks].mean(-1)
    matches = (np.ones(rows), champion["exact_match"] / 100, challenger["exact_match"] / 100)
    return check_significance(params.promote, rows, difference, seed, matches)

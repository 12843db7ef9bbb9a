"""The chat baseline the gate holds a first model to: the untuned base model, when one is fine-tuned (a fine-tune
that does not beat its own base is not worth promoting), else the training set's most common answer to every
prompt (a model from scratch must answer the question asked, not the question most often asked). Scored on the
test rows with the models' metrics."""

from __future__ import annotations

import pandas as pd

from tasks.core.config import Params


def untuned_answers(params: Params, prompts: list[list[dict[str, str]]]) -> list[str]:
    """The base checkpoint's greedy answers, rendered with the template training used (saved with the challenger's
    tokenizer, whose added markers the base has no embeddings for: they are given fresh ones, as training began)."""
    from transformers import AutoModelForCausalLM

    from tasks.hub.models import pretrained_folder
    from tasks.kinds.chat.evaluate import answer_turns
    from tasks.training.loading import load_trained, load_trained_tokenizer

    tokenizer = load_trained_tokenizer(params.paths.model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = load_trained(AutoModelForCausalLM, pretrained_folder(params))
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer))
    return answer_turns(model, tokenizer, prompts, params.evaluate)


def chat_baseline(params: Params, train: pd.DataFrame, test: pd.DataFrame) -> tuple:
    """(name, metrics, paired test against the challenger's answers) of the baseline: beating it takes the rule's
    significance test too (tasks/registry/baseline.judge_baseline)."""
    from tasks.kinds.chat.conversations import last_answer, prompt_turns
    from tasks.kinds.chat.evaluate import compare_answers
    from tasks.kinds.chat.metrics import row_scores, score_answers

    references = [last_answer(value) for value in test["messages"]]
    if params.model.pretrained:
        name = f"the untuned base model ({params.model.pretrained})"
        answers = untuned_answers(params, [prompt_turns(value) for value in test["messages"]])
    else:
        common = pd.Series([last_answer(value) for value in train["messages"]]).value_counts().index[0]
        name, answers = f"the most common training answer ({common!r})", [common] * len(references)
    base = row_scores(answers, references)
    paired = lambda tuned, seed: compare_answers(params, base, row_scores(tuned, references), seed)
    return name, score_answers(answers, references), paired

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
    from tasks.kinds.chat.evaluate import answer_turns, load_chat_model
    from tasks.training.loading import load_trained

    _, tokenizer = load_chat_model(params.paths.model)
    model = load_trained(AutoModelForCausalLM, pretrained_folder(params))
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer))
    return answer_turns(model, tokenizer, prompts, params.evaluate)


def chat_baseline(params: Params, train: pd.DataFrame, test: pd.DataFrame) -> tuple[str, dict[str, float]]:
    from tasks.kinds.chat.conversations import last_answer, prompt_turns
    from tasks.kinds.chat.metrics import score_answers

    references = [last_answer(value) for value in test["messages"]]
    if params.model.pretrained:
        answers = untuned_answers(params, [prompt_turns(value) for value in test["messages"]])
        return f"the untuned base model ({params.model.pretrained})", score_answers(answers, references)
    common = pd.Series([last_answer(value) for value in train["messages"]]).value_counts().index[0]
    return f"the most common training answer ({common!r})", score_answers([common] * len(references), references)

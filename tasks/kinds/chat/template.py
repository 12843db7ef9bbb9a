"""Conversations into token ids with the tokenizer's own chat template, and the labels that put the loss on the
assistant's tokens only.

A checkpoint whose tokenizer has no template gets ChatML (`<|im_start|>role ... <|im_end|>`, as Qwen's and many
others' templates write it) when params allow a default; its two markers become special tokens. Which template was
used is saved with the tokenizer (its chat_template), so serving and a rebuild render prompts the same way.

Which tokens carry loss comes from rendering, not from markers inside the template: for each assistant turn, the
conversation up to that turn with the generation prompt is a prefix of the conversation up to the end of the turn,
and the characters between the two (the answer and its end marker, which teaches the model to stop) are the
assistant's. Tokens are mapped to characters with the fast tokenizer's offsets, so any template whose renderings
extend each other works, with or without `{% generation %}` markers.
"""

from __future__ import annotations

from tasks.kinds.chat.conversations import Turn

START, END = "<|im_start|>", "<|im_end|>"
CHATML = ("{%- for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
          "'<|im_end|>\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}")
IGNORE = -100  # the label of a token without loss, as transformers' losses skip it


class TemplateError(ValueError):
    """A template that cannot be used for training: its renderings do not extend each other."""


def give_template(tokenizer, allow_default: bool):
    """The tokenizer with a chat template: its own, or ChatML with its markers as special tokens. Returns whether
    the default was given (the model's embeddings must then grow by the new tokens)."""
    if getattr(tokenizer, "chat_template", None):
        return False
    if not allow_default:
        raise TemplateError("has no chat template")
    tokenizer.add_special_tokens({"additional_special_tokens": [START, END]})
    tokenizer.chat_template = CHATML
    return True


def render(tokenizer, turns: list[Turn], generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=generation_prompt)


def assistant_spans(tokenizer, turns: list[Turn]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of its assistant turns (each answer with its end marker)."""
    text = render(tokenizer, turns)
    spans = []
    for index, turn in enumerate(turns):
        if turn["role"] != "assistant":
            continue
        before, through = render(tokenizer, turns[:index], True), render(tokenizer, turns[:index + 1])
        if not (through.startswith(before) and text.startswith(through)):
            raise TemplateError("renders a conversation's beginning as something other than the start of the whole "
                                "conversation, so the assistant's tokens cannot be told apart")
        spans.append((len(before), len(through)))
    return text, spans


def encode_conversation(tokenizer, turns: list[Turn]) -> dict[str, list[int]]:
    """Token ids of the rendered conversation and their labels: the id on an assistant token, IGNORE elsewhere."""
    text, spans = assistant_spans(tokenizer, turns)
    # The template writes any special tokens (BOS included) itself: adding them again would double them.
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = encoded["input_ids"], encoded["offset_mapping"]
    # A token belongs to the span its first character is in; a marker token is one character run, so it is wholly in.
    labels = [token if any(start <= first < end for start, end in spans) else IGNORE
              for token, (first, last) in zip(ids, offsets)]
    return {"input_ids": ids, "labels": labels}


def encode_prompt(tokenizer, turns: list[Turn]) -> list[int]:
    """The ids a model answers: the conversation so far and the template's opening of an assistant turn."""
    return tokenizer(render(tokenizer, turns, True), add_special_tokens=False)["input_ids"]

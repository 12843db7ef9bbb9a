"""tokenize for chat: a tokenizer with a chat template (a checkpoint's own, or ChatML: tasks/kinds/chat/template.py),
each conversation rendered with it and encoded, the labels on the assistant's tokens only.

A tokenizer trained on the data learns from every turn's text and keeps ChatML's markers whole; its end-of-text token
is ChatML's end of a turn, so generation stops where an answer ends. A conversation longer than tokenize.max_length
is cut at its end (the count is recorded): its first answers still teach. Validation's tokens check counts with the
same tokenizer first (tasks/kinds/chat/checks.py), so such a conversation stops the flow or is dropped, as its policy
says, before training sees it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tasks.core.config import Params
from tasks.core.errors import LmforgeError
from tasks.kinds.chat.conversations import load_conversation
from tasks.kinds.chat.template import END, START, TemplateError, encode_conversation, give_template

ENCODING_FILE = "encoding.json"  # beside the splits: the template used and how many conversations were cut


def template_tokenizer(params: Params, pretrained: str | None, texts: list[str]):
    """The tokenizer conversations are rendered and encoded with, its template set as tokenize.chat_template says."""
    from tasks.decoders.tokenizer import train_byte_tokenizer
    from tasks.training.tokenizer_io import load_tokenizer

    choice = params.tokenize.chat_template
    if not pretrained:
        if choice == "own":
            raise LmforgeError("tokenize.chat_template is own, but the tokenizer is trained on the data and has no "
                               "template of its own; set it to chatml or auto, or name a tokenizer in "
                               "tokenize.pretrained.")
        tokenizer = train_byte_tokenizer(texts, params.tokenize, (START, END))
    else:
        tokenizer = load_tokenizer(pretrained, params.model.trust_remote_code)
    if choice == "chatml":
        tokenizer.chat_template = None  # ChatML even where the checkpoint brings a template
    try:
        defaulted = give_template(tokenizer, allow_default=choice != "own")
    except TemplateError:
        raise LmforgeError(f"{pretrained}: its tokenizer has no chat template; set tokenize.chat_template to auto or "
                           "chatml (ChatML is then added), or use a chat checkpoint's tokenizer.") from None
    if defaulted or not pretrained:
        tokenizer.eos_token = END  # an answer ends with the end of its turn: generation stops there
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # labels mask padding by position, never by id
    return tokenizer


def turn_texts(frame: pd.DataFrame) -> list[str]:
    """Every turn's content of a split, one text each: what a tokenizer is trained on."""
    return [turn["content"] for value in frame["messages"] for turn in load_conversation(value)]


def encode_split(tokenizer, frame: pd.DataFrame, max_length: int) -> tuple[pd.DataFrame, int]:
    """(input_ids and labels per conversation, how many were cut to max_length)."""
    ids, labels, cut = [], [], 0
    for value in frame["messages"]:
        try:
            encoded = encode_conversation(tokenizer, load_conversation(value))
        except TemplateError as error:
            raise LmforgeError(f"the chat template {error}; set tokenize.chat_template: chatml.") from None
        cut += len(encoded["input_ids"]) > max_length
        ids.append(encoded["input_ids"][:max_length])
        labels.append(encoded["labels"][:max_length])
    return pd.DataFrame({"input_ids": ids, "labels": labels}), cut


def tokenize_conversations(splits: dict[str, pd.DataFrame], params: Params, pretrained: str | None, out: Path) -> str:
    """Write out/tokenizer (with its chat template) and one Parquet of input_ids and labels per split; returns the
    tokenizer's name for the cache record."""
    tokenizer = template_tokenizer(params, pretrained, turn_texts(splits["train"]))
    tokenizer.save_pretrained(str(out / "tokenizer"))
    cut = {}
    for name, frame in splits.items():
        encoded, cut[name] = encode_split(tokenizer, frame, params.tokenize.max_length)
        encoded.to_parquet(out / f"{name}.parquet")
    (out / ENCODING_FILE).write_text(json.dumps({"chat_template": tokenizer.chat_template, "cut": cut}, indent=1))
    return pretrained or f"byte-level {params.tokenize.algorithm}"

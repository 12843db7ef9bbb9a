"""The checks for chat conversations: the messages column present, no null, every conversation in order (an optional
system turn, then user and assistant in turn, ending on a non-empty answer), its length within bounds (characters,
and tokens as tokenize will encode it), no conversation repeated in train or shared by train and test. Built from
tasks.data.checks' helpers, as the other kinds' checks are, so that a repeat or a leak means the same everywhere."""

from __future__ import annotations

import json

import pandas as pd

from tasks.core.config import Params
from tasks.data.checks import Check, in_train, repeat_checks
from tasks.kinds.chat.conversations import conversation_problem, load_conversation


def conversation_chars(value) -> int | None:
    """The characters of a conversation's turns together (None when it is not one): what the length bounds measure."""
    try:
        return sum(len(str(turn["content"] or "")) for turn in load_conversation(value))
    except (ValueError, TypeError):
        return None


# (tokenizer settings, training texts, tokenizer): validation counts several times (the drops on every row, then the
# suite on the rows kept); the tokenizer trained on the first, fuller training set counts them all, so that a drop
# does not retrain it into different counts.
_counting: list[tuple[str, set, object]] = []


def counting_tokenizer(params: Params, pretrained: str | None, texts: list[str]):
    from tasks.kinds.chat.tokenize import template_tokenizer

    key = json.dumps([pretrained, params.tokenize.model_dump(mode="json")])
    if not (_counting and _counting[0][0] == key and set(texts) <= _counting[0][1]):
        _counting[:] = [(key, set(texts), template_tokenizer(params, pretrained, texts))]
    return _counting[0][2]


def count_tokens(rows: pd.DataFrame, params: Params) -> pd.Series:
    """Each conversation's tokens as tokenize will encode them (its template's markers included): with the tokenizer
    tokenize.pretrained or model.pretrained names, or one trained on the training conversations as tokenize trains
    it; NaN for a value that is no conversation."""
    from tasks.hub.models import tokenizer_folder
    from tasks.kinds.chat.template import TemplateError, encode_conversation
    from tasks.kinds.chat.tokenize import turn_texts

    problems = rows["problem"] if "problem" in rows.columns else describe_rows(rows)["problem"]
    fine = rows["messages"].notna() & problems.isna()
    pretrained = tokenizer_folder(params)
    tokenizer = counting_tokenizer(params, pretrained, [] if pretrained else turn_texts(rows[fine & in_train(rows)]))

    def tokens(value, ok: bool) -> float | None:
        try:
            return len(encode_conversation(tokenizer, load_conversation(value))["input_ids"]) if ok else None
        except TemplateError:
            return None  # tokenize names a template that cannot render it
    return pd.Series([tokens(value, ok) for value, ok in zip(rows["messages"], fine)], index=rows.index, dtype=float)


def describe_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows with what the checks look at: each conversation's problem (None when fine) and its length."""
    messages = rows["messages"]
    return rows.assign(problem=messages.map(lambda value: None if value is None else conversation_problem(value)),
                       chars=messages.map(lambda value: None if value is None else conversation_chars(value)))


def chat_batches(rows: pd.DataFrame, params: Params) -> dict[str, pd.DataFrame]:
    """The frames the checks look at: the rows described, train conversations, and conversations of train and test
    (each unique within its split, so a repeated one there means train and test share it)."""
    if "messages" not in rows.columns:
        return {"rows": rows}
    described = describe_rows(rows)
    described = described.assign(tokens=count_tokens(described, params))  # its problems read once, not again
    kept = described.dropna(subset=["messages"])
    shared = kept[kept["split"].isin(["train", "test"])].drop_duplicates(["split", "messages"])
    return {"rows": described, "train_conversations": kept.loc[in_train(kept), ["split", "messages"]],
            "train_test_conversations": shared[["split", "messages"]]}


def chat_checks(params: Params) -> list[Check]:
    import great_expectations.expectations as gxe

    v = params.validate_
    most_tokens = v.max_tokens or params.tokenize.max_length

    def out_of_bounds(rows: pd.DataFrame, p: Params) -> pd.Series:
        chars = describe_rows(rows)["chars"]
        return chars.notna() & ~chars.between(v.min_text_chars, v.max_text_chars)

    def too_long(rows: pd.DataFrame, p: Params) -> pd.Series:
        return count_tokens(rows, p) > most_tokens  # NaN (no conversation: another check's) compares False

    return [
        Check("columns", "rows", lambda p, m: [gxe.ExpectColumnToExist(column=c) for c in ("messages", "split")]),
        Check("nulls", "rows", lambda p, m: [gxe.ExpectColumnValuesToNotBeNull(column="messages", mostly=m)],
              lambda rows, p: rows["messages"].isna()),
        Check("conversation", "rows", lambda p, m: [gxe.ExpectColumnValuesToBeNull(column="problem", mostly=m)],
              lambda rows, p: describe_rows(rows)["problem"].notna(),
              "are not conversations that end on an answer (roles out of order, no or an empty assistant turn)"),
        Check("text_length", "rows", lambda p, m: [gxe.ExpectColumnValuesToBeBetween(
            column="chars", min_value=v.min_text_chars, max_value=v.max_text_chars, mostly=m)], out_of_bounds,
              "have fewer or more characters in their turns than validate.min_text_chars/max_text_chars allow"),
        Check("tokens", "rows", lambda p, m: [gxe.ExpectColumnValuesToBeBetween(
            column="tokens", min_value=1, max_value=most_tokens, mostly=m)], too_long,
              f"have more than {most_tokens} tokens as tokenize encodes them (validate.max_tokens, else "
              "tokenize.max_length): training would cut their last answers"),
    ] + repeat_checks(params, "messages", lambda rows: rows["messages"], "train_conversations",
                      "train_test_conversations")

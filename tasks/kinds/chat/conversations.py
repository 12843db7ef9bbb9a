"""Conversations as the chat kind keeps them: a list of {role, content} turns in OpenAI's format, stored as one JSON
text per row (column `messages`), so that a split, a repeat check and a data hash see one value per conversation.

A source gives them as a `messages` column (JSONL lists of turns, or their JSON text) or as prompt and response
columns (Alpaca's instruction/output mapped by params), optionally with a system prompt column.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

ROLES = ("system", "user", "assistant")
Turn = dict[str, str]


def pair_conversation(prompt: str, response: str, system: str | None = None) -> list[Turn]:
    """One exchange as a conversation: the system prompt (when there is one), the prompt, the response."""
    turns = [{"role": "system", "content": system}] if system else []
    return turns + [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]


def dump_conversation(turns: Iterable[Turn]) -> str:
    """The stored form: compact JSON, role before content, nothing else kept (other keys of a turn are dropped)."""
    return json.dumps([{"role": turn["role"], "content": turn["content"]} for turn in turns], ensure_ascii=False,
                      separators=(",", ":"))


def load_conversation(value) -> list[Turn]:
    """A stored or source value as a list of turns: JSON text, or a list (of dicts, or of a reader's row objects)."""
    if isinstance(value, str):
        value = json.loads(value)
    if value is None or not hasattr(value, "__iter__") or isinstance(value, dict):
        raise ValueError("is not a list of turns")
    turns = []
    for turn in value:
        if not hasattr(turn, "get"):
            raise ValueError("has a turn that is not a {role, content} object")
        turns.append({"role": turn.get("role"), "content": turn.get("content")})
    return turns


def conversation_problem(value) -> str | None:
    """What is wrong with a conversation, as the end of a sentence ("... roles out of order"), or None.

    Accepted: an optional system turn first, then user and assistant turns alternating from the user, ending on an
    assistant turn whose content is not blank: every assistant turn is an answer the model learns, so each one
    follows a user turn, and a conversation that ends on a question teaches nothing."""
    try:
        turns = load_conversation(value)
    except (ValueError, TypeError) as error:
        return f"is not a list of {{role, content}} turns ({error})"
    roles = [turn["role"] for turn in turns]
    if unknown := sorted({str(role) for role in roles if role not in ROLES}):
        return f"has a role other than system, user and assistant ({', '.join(unknown)})"
    if any(not isinstance(turn["content"], str) for turn in turns):
        return "has a turn whose content is not text"
    body = roles[1:] if roles[:1] == ["system"] else roles
    if "assistant" not in roles:
        return "has no assistant turn"
    if body[-1] != "assistant":
        return f"ends on a {body[-1]} turn that nothing answers"
    if body != ["user", "assistant"] * (len(body) // 2):
        return "has its roles out of order (a system turn only first, then user and assistant in turn)"
    if any(turn["role"] == "assistant" and not turn["content"].strip() for turn in turns):
        return "has an empty assistant turn"
    return None


def last_answer(value) -> str:
    """The conversation's last assistant turn: the reference its generated answer is scored against."""
    return load_conversation(value)[-1]["content"]


def prompt_turns(value) -> list[Turn]:
    """Everything before the last assistant turn: what the model is asked to answer at evaluation and serving."""
    return load_conversation(value)[:-1]


def read_turns(text: str) -> list[dict[str, str]]:
    """A request's turns: a JSON list of {role, content} turns, or any other text as one user turn."""
    if text.lstrip().startswith("["):
        try:
            return load_conversation(text)
        except (ValueError, TypeError):
            pass  # a prompt that merely starts with a bracket
    return [{"role": "user", "content": text}]


def as_request(turns: list[dict[str, str]]) -> str:
    """What a client sends for a conversation: its turns as JSON (read back by read_turns)."""
    return json.dumps(turns, ensure_ascii=False)

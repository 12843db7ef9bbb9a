"""The card's self-check: every figure read again from where the card says it came from, and the Markdown compared
with what the figures give. A card that disagrees with its records is named, figure by figure."""

from __future__ import annotations

import math

from tasks.model_card.render import format_value, iter_facts, render_card


def same(recorded, found) -> bool:
    if isinstance(recorded, float) and isinstance(found, (int, float)) and not isinstance(found, bool):
        return math.isclose(recorded, found, rel_tol=1e-9, abs_tol=1e-12)
    return recorded == found


def describe_source(fact: dict) -> str:
    where = {"version": "the registry's version", "tag": "the version's tag", "param": "the run's param",
             "metric": "the run's metric", "run": "the run's", "artifact": "the run's file"}[fact["from"]]
    key = "".join(f"[{part!r}]" for part in fact.get("key", []))
    return f"{where} {fact['name']}{key}"


def check_card(card: dict, markdown: str | None, sources) -> list[str]:
    """One line per disagreement; none when the card holds."""
    problems = []
    for title, fact in iter_facts(card):
        found = sources.read(fact["from"], fact["name"], fact.get("key", []))
        if not same(fact["value"], found):
            problems.append(f"{title} / {fact['label']}: the card says {format_value(fact['value'])}, "
                            f"{describe_source(fact)} holds {format_value(found)}")
    if markdown is not None:
        expected = render_card(card).splitlines()
        for number, (line, want) in enumerate(zip(markdown.splitlines(), expected), start=1):
            if line != want:
                problems.append(f"MODEL_CARD.md line {number} reads {line!r}; the card's figures give {want!r}")
                break
        else:
            if len(markdown.splitlines()) != len(expected):
                problems.append(f"MODEL_CARD.md has {len(markdown.splitlines())} lines; the card's figures give "
                                f"{len(expected)}")
    from tasks.registry.decisions import check_decisions

    return problems + [f"decision record: {line}" for line in check_decisions(sources.client, sources.version)]

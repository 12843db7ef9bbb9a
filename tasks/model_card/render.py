"""The card as Markdown, from its JSON twin alone: the same twin always gives the same text, which is how the check
tells an edited figure in MODEL_CARD.md."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

FORMAT = "lmforge model card 1"


def format_value(value: Any, missing: str = "not recorded") -> str:
    if value is None:
        return missing
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:.1f}"
    if isinstance(value, list):
        return "; ".join(format_value(item) for item in value) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{key}: {format_value(item)}" for key, item in value.items()) or "none"
    return " ".join(str(value).split())  # one line: tags and reasons may hold newlines


def format_cell(cell: Any) -> str:
    if not isinstance(cell, dict):
        text = str(cell)
    else:
        value = round(cell["value"]) if cell.get("count") and isinstance(cell["value"], float) else cell["value"]
        text = cell["missing"] if "missing" in cell else format_value(value)
    return text.replace("|", "\\|")


def iter_facts(card: dict) -> Iterator[tuple[str, dict]]:
    """(section title, fact) for every figure of the card, in the order it shows them."""
    for section in card["sections"]:
        for fact in section.get("facts", []):
            yield section["title"], fact
        for row in section.get("rows", []):
            for cell in row:
                if isinstance(cell, dict):
                    yield section["title"], cell


def render_card(card: dict) -> str:
    lines = [f"# Model card: {card['model']} version {card['version']}", "",
             "Built by lmforge from what this version's steps recorded in the registry; every figure names its "
             "source in the JSON twin (model_card.json), and `lmforge card` checks them against it.", ""]
    for section in card["sections"]:
        lines += [f"## {section['title']}", ""]
        for fact in section.get("facts", []):
            lines.append(f"- **{fact['label']}**: {format_cell(fact)}")
        if section.get("columns"):
            lines += [""] if section.get("facts") else []
            lines.append("| " + " | ".join(section["columns"]) + " |")
            lines.append("|" + "---|" * len(section["columns"]))
            lines += ["| " + " | ".join(format_cell(cell) for cell in row) + " |" for row in section["rows"]]
        lines.append("")
    return "\n".join(lines)

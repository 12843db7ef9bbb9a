"""The trivial baseline a model must beat before the gate promotes it, pure: what two kinds' baselines share (a
text's first sentence), the comparison by the primary metric, and how a decision's record of it reads."""

from __future__ import annotations

import re

from tasks.core.config import LOWER_IS_BETTER, PromoteParams

SENTENCE_END = re.compile(r"[.?!]\s|\n")  # a full stop, question or exclamation mark before a space, or a line break


def first_sentence(text: str) -> str:
    """The text's first sentence, its closing mark kept; the whole text when it has one sentence. A mark with no
    space after it ("3.5", "example.org") does not end one."""
    text = str(text).strip()
    match = SENTENCE_END.search(text)
    return text[:match.start() + 1].strip() if match else text


def judge_baseline(rule: PromoteParams, challenger: dict[str, float], baseline: tuple | None,
                   answers: list | None = None, seed: int = 0) -> dict:
    """The decision's record of the baseline: its name and metrics, and whether the challenger beats it strictly on
    the primary metric (downwards for a metric in LOWER_IS_BETTER), with the reason the verdict gives.
    An equal score does not beat it: a model no better than the obvious has learnt nothing the gate can see.

    A baseline scored answer by answer (chat's untuned base model) brings a third element, its paired test against
    the challenger's `answers` on the same rows: then beating it also takes the rule's significance test."""
    if not rule.beat_baseline or baseline is None:
        return {"checked": False, "reason": "promote.beat_baseline is false" if not rule.beat_baseline
                else "no baseline was scored"}
    name, metrics, *paired = baseline
    primary = rule.primary_metric
    ours, theirs = challenger[primary], metrics[primary]
    lower = primary in LOWER_IS_BETTER
    beaten = ours < theirs if lower else ours > theirs
    significance = None
    if paired and answers is not None and rule.significance.test != "none":
        from tasks.registry.promotion_rule import describe_significance

        significance = paired[0](answers, seed)
        beaten = beaten and significance["passed"]
    sign = {(True, True): "<", (True, False): ">=", (False, True): ">", (False, False): "<="}[
        (lower, ours < theirs if lower else ours > theirs)]
    reason = f"{'beats' if beaten else 'does not beat'} the baseline ({name}): {primary} {ours:.4f} {sign} {theirs:.4f}"
    if significance:
        reason += f", {describe_significance(significance)}"
    return {"checked": True, "name": name, "primary_metric": primary, "metrics": metrics, "beaten": beaten,
            "reason": reason, **({"significance": significance} if significance else {})}


def describe_baseline(record: dict | None) -> str:
    """One line for the run's summary: the baseline, its primary metric, and whether the model beat it."""
    if not record:
        return ""
    if not record["checked"]:
        return f"not checked ({record['reason']})"
    primary = record["primary_metric"]
    return (f"{record['name']}: {primary} {record['metrics'][primary]:.4f}, "
            f"{'beaten' if record['beaten'] else 'not beaten'} by the model")

"""The embedded default dataset: product-review sentences whose label depends on composition.

Every word appears under every label, so counting words is not enough: negation flips a clause
("not bad at all"), and the main clause of a contrast decides it wherever it stands ("although the
screen is great, the battery is awful" is negative). Clauses of plain fact make a review `neutral`. Deterministic for a given seed.
"""

from __future__ import annotations

import random

import pandas as pd

LABELS = ("negative", "neutral", "positive")

ASPECTS = (
    "screen", "battery", "camera", "speaker", "keyboard", "charger", "case", "sound", "design",
    "app", "display", "fan", "lens", "strap", "cable", "remote", "touchpad", "microphone",
    "headphones", "price", "delivery", "packaging", "manual", "software", "build quality",
)
GOOD = ("good", "great", "excellent", "solid", "fantastic", "reliable", "sharp", "impressive",
        "decent", "superb", "sturdy", "nice")
BAD = ("bad", "terrible", "awful", "poor", "weak", "flimsy", "disappointing", "cheap",
       "useless", "horrible", "mediocre", "annoying")
# (present tense, base form) so that negation stays grammatical: "works" / "does not work".
GOOD_VP = (("works perfectly", "work perfectly"), ("holds up well", "hold up well"),
           ("does the job", "do the job"), ("feels premium", "feel premium"),
           ("meets my needs", "meet my needs"))
BAD_VP = (("breaks easily", "break easily"), ("keeps failing", "keep failing"),
          ("feels cheap", "feel cheap"), ("lets me down", "let me down"),
          ("drains fast", "drain fast"))
INTENSIFIERS = ("", "", "very ", "really ", "extremely ", "quite ", "truly ", "pretty ")
OPENERS = ("", "", "", "honestly, ", "overall ", "to be fair, ", "i think ", "sadly ", "wow, ")
ENDINGS = ("", "", ".", "!", " for the price", " after a month", " so far")


def make_clause(rng: random.Random, positive: bool) -> str:
    """One clause about one aspect whose polarity is `positive`, often reached through negation."""
    aspect = rng.choice(ASPECTS)
    negated = rng.random() < 0.45
    # A negated clause carries a word of the opposite polarity: "not bad" is positive.
    word_positive = positive != negated
    form = rng.randrange(5)
    if form == 0:
        adj = rng.choice(GOOD if word_positive else BAD)
        neg = "is not " if negated else "is "
        return f"the {aspect} {neg}{rng.choice(INTENSIFIERS)}{adj}"
    if form == 1 and negated:
        adj = rng.choice(GOOD if word_positive else BAD)
        return rng.choice((f"the {aspect} is not {adj} at all", f"the {aspect} is not at all {adj}",
                           f"the {aspect} is never {adj}", f"the {aspect} is hardly {adj}"))
    if form == 1:
        return f"{rng.choice(INTENSIFIERS)}{rng.choice(GOOD if positive else BAD)} {aspect}"
    if form == 2:
        present, base = rng.choice(GOOD_VP if word_positive else BAD_VP)
        if negated:
            return f"the {aspect} {rng.choice(('does not', 'did not', 'never seems to'))} {base}"
        return f"the {aspect} {present}"
    if form == 3:
        # "could not be better" is praise, "could be better" is a complaint.
        if positive:
            return f"the {aspect} could not be better" if negated else f"the {aspect} is better than i expected"
        return f"the {aspect} could not be worse" if negated else f"the {aspect} could be better"
    verb = rng.choice(("love", "like", "enjoy")) if word_positive else rng.choice(("hate", "dislike", "regret"))
    return f"i {'do not ' if negated else ''}{verb} the {aspect}"


FACTS = ("arrived on monday", "came in a blue box", "is six inches wide", "runs on two batteries",
         "was a gift for my brother", "ships with a manual", "weighs about a pound", "is made in taiwan",
         "came with a spare cable", "was bought last week")


def make_fact(rng: random.Random) -> str:
    """A clause with no opinion in it."""
    return f"the {rng.choice(ASPECTS)} {rng.choice(FACTS)}"


def make_review(rng: random.Random) -> tuple[str, str]:
    """Return (text, label) for one generated review."""
    kind = rng.random()
    polarity = rng.random() < 0.5
    label = "positive" if polarity else "negative"
    if kind < 0.25:
        body = make_clause(rng, polarity)
    elif kind < 0.4:
        body, label = rng.choice((make_fact(rng), f"{make_fact(rng)} and {make_fact(rng)}")), "neutral"
    elif kind < 0.55:
        opinion, fact = make_clause(rng, polarity), make_fact(rng)
        body = rng.choice((f"{opinion} and {fact}", f"{fact} and {opinion}", f"{fact}, {opinion}"))
    else:
        # In a contrast the main clause wins, wherever it stands.
        a, b = make_clause(rng, not polarity), make_clause(rng, polarity)
        body = rng.choice((f"{a} but {b}", f"although {a}, {b}", f"{b}, although {a}",
                           f"{b} even though {a}", f"{a}, however {b}"))
    return f"{rng.choice(OPENERS)}{body}{rng.choice(ENDINGS)}", label


def generate_reviews(rows: int, seed: int) -> pd.DataFrame:
    """`rows` distinct reviews with columns text and label, the same for the same seed."""
    rng = random.Random(seed)
    seen: dict[str, str] = {}
    while len(seen) < rows:
        text, label = make_review(rng)
        seen.setdefault(text, label)
    return pd.DataFrame({"text": list(seen), "label": list(seen.values())})

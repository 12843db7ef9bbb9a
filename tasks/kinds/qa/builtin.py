"""The built-in question-answering data: short contexts of two to four sentences that state facts, and a question
that asks one of them back; the answer is a span of the context.

Deterministic for a seed, and an answer is right or wrong: "Maria went to Oslo on Friday. Tom bought 12 lamps.
Maria is 34 years old." asked "How many lamps did Tom buy?" is answered "12" and nothing else. Each context names
several people, and several facts of the same kind, so the model has to tie the question's name to its sentence,
not just spot a number or a city.
"""

from __future__ import annotations

import random
from string import Formatter

import pandas as pd

NAMES = ("Maria Tom Anna Omar Lena Ravi Sara Jonas Mei Pablo Nora Ivan Alice Kofi Elena Hugo Yuki Ben Fatima "
         "Lars").split()
PLACES = "Oslo Lyon Porto Tartu Graz Turku Bergen Ghent Malmo Cork Brno Lima Quito Perth Hanoi".split()
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
THINGS = "lamps books chairs apples tickets boxes pens shirts bottles plates coins cups".split()
JOBS = "teacher baker nurse pilot farmer lawyer painter chemist plumber librarian".split()
COLORS = "red blue green yellow black white silver orange".split()
VENUES = "library station market museum harbour bakery stadium garden".split()

# (sentence, question, answer slot): each fact states one thing and can be asked back in one or more ways.
FACTS = {
    "travel": ("{a} went to {place} on {day}.",
               [("Where did {a} go?", "place"), ("On which day did {a} go to {place}?", "day"),
                ("Who went to {place}?", "a")]),
    "count": ("{a} bought {n} {thing}.", [("How many {thing} did {a} buy?", "n"), ("Who bought {n} {thing}?", "a")]),
    "age": ("{a} is {age} years old.", [("How old is {a}?", "age")]),
    "job": ("{a} works as a {job} in {place}.", [("What does {a} work as?", "job"), ("Where does {a} work?", "place")]),
    "meeting": ("{a} met {b} at the {venue}.", [("Who did {a} meet?", "b"), ("Where did {a} meet {b}?", "venue")]),
    "car": ("The car of {a} is {color}.", [("What color is the car of {a}?", "color")]),
}


def draw_slots(rng: random.Random, names: list[str]) -> dict[str, str]:
    """Values for every slot of a fact; `names` are the people not yet used in this context (popped)."""
    return {"a": names.pop(), "b": names.pop(), "place": rng.choice(PLACES), "day": rng.choice(DAYS),
            "thing": rng.choice(THINGS), "n": str(rng.randrange(2, 100)), "age": str(rng.randrange(18, 90)),
            "job": rng.choice(JOBS), "color": rng.choice(COLORS), "venue": rng.choice(VENUES)}


def make_example(rng: random.Random) -> tuple[str, str, str] | None:
    """One (context, question, answer), or None when the answer's text occurs more than once in the context (then
    its first occurrence might not be the fact asked about, and the answer start would be ambiguous)."""
    names = rng.sample(NAMES, 8)  # two per sentence at most, so four sentences never reuse a person
    # Facts of the same kind may repeat: two travels in one context make "Where did X go?" a real choice.
    kinds = [rng.choice(sorted(FACTS)) for _ in range(rng.randrange(2, 5))]
    facts = [(kind, draw_slots(rng, names)) for kind in kinds]
    context = " ".join(FACTS[kind][0].format(**slots) for kind, slots in facts)
    kind, slots = rng.choice(facts)
    question, slot = rng.choice(FACTS[kind][1])
    answer = slots[slot]
    # A person is named in one sentence only, so a question naming one is unambiguous; "Who went to Oslo?" is so
    # only when Oslo occurs once.
    asked = [slots[name] for _, name, _, _ in Formatter().parse(question) if name]
    if context.count(answer) != 1 or not (set(asked) & set(NAMES) or all(context.count(v) == 1 for v in asked)):
        return None
    return context, question.format(**slots), answer


def generate_facts(rows: int, seed: int) -> pd.DataFrame:
    """`rows` distinct (context, question, answer) rows; each answer occurs exactly once in its context."""
    rng = random.Random(seed)
    examples: dict[tuple[str, str], str] = {}
    while len(examples) < rows:
        example = make_example(rng)
        if example is not None:
            examples[example[:2]] = example[2]
    return pd.DataFrame([(context, question, answer) for (context, question), answer in examples.items()],
                        columns=["context", "question", "answer"])

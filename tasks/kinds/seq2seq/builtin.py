"""The built-in seq2seq data: short sentences with numbers in digits, to be rewritten with the numbers in words.

Deterministic for a seed, and right or wrong can be checked: "we sold 342 cups on day 7" must become
"we sold three hundred forty two cups on day seven". The model has to read digits by position, learn the teens and
the tens, and copy the rest.
"""

from __future__ import annotations

import random

import pandas as pd

ONES = "zero one two three four five six seven eight nine".split()
TEENS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
THINGS = "cups books chairs lamps apples tickets boxes pens shirts bottles plates coins".split()
TEMPLATES = [
    "we sold {a} {x} on day {b}",
    "the shop has {a} {x} and {b} {y}",
    "order {a} {x} before {b} pm",
    "room {a} needs {b} {x}",
    "she paid {a} dollars for {b} {x}",
    "bus {a} leaves in {b} minutes",
    "there were {a} {x} left after {b} days",
    "page {a} lists {b} {x} and {c} {y}",
]


def number_words(n: int) -> str:
    """0-999 in words, without 'and' or hyphens: 342 -> three hundred forty two."""
    hundreds, rest = divmod(n, 100)
    words = [ONES[hundreds], "hundred"] if hundreds else []
    if rest >= 20:
        words += [TENS[rest // 10]] + ([ONES[rest % 10]] if rest % 10 else [])
    elif rest >= 10:
        words.append(TEENS[rest - 10])
    elif rest or not hundreds:
        words.append(ONES[rest])
    return " ".join(words)


def draw_number(rng: random.Random) -> int:
    # Small numbers are common in text; every length still appears often.
    return rng.choice((rng.randrange(10), rng.randrange(10, 100), rng.randrange(100, 1000)))


def generate_numbers(rows: int, seed: int) -> pd.DataFrame:
    """`rows` distinct (source, target) pairs."""
    rng = random.Random(seed)
    pairs: dict[str, str] = {}
    while len(pairs) < rows:
        template = rng.choice(TEMPLATES)
        x, y = rng.sample(THINGS, 2)
        numbers = {key: draw_number(rng) for key in "abc"}
        source = template.format(x=x, y=y, **numbers)
        pairs[source] = template.format(x=x, y=y, **{k: number_words(v) for k, v in numbers.items()})
    return pd.DataFrame({"source": list(pairs), "target": list(pairs.values())})

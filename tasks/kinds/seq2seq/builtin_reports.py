"""The built-in summarization data: short reports of two or three sentences, each summed up in one line.

Deterministic for a seed, and a summary is right or wrong: exactly one sentence of a report states what happened
(who, where, what and how many, on which day); the others are filler drawn from a pool. "On friday the bakery in lyon
sold 42 cakes. The staff said the oven was old. A new oven arrives next week." sums up as "lyon bakery sold 42 cakes on
friday". The model has to find the fact among the filler, reorder it, and copy names and numbers.
"""

from __future__ import annotations

import random

import pandas as pd

DAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
PLACES = "lyon oslo porto tartu graz turku bergen ghent malmo split cork brno".split()
SHOPS = {"bakery": ["cakes", "loaves", "pies"], "bookshop": ["novels", "maps", "atlases"],
         "garage": ["tyres", "batteries", "mirrors"], "florist": ["roses", "tulips", "wreaths"],
         "market": ["melons", "lemons", "cheeses"], "workshop": ["chairs", "tables", "stools"]}
VERBS = ["sold", "ordered", "returned", "delivered"]
FACTS = ["On {day} the {shop} in {place} {verb} {n} {thing}.",
         "The {shop} in {place} {verb} {n} {thing} on {day}.",
         "{n} {thing} were {verb} by the {shop} in {place} on {day}."]
FILLER = ["The staff said the weather was cold.", "A new manager starts next month.", "Customers waited for ten minutes.",
          "The street outside was closed for repairs.", "Prices did not change this week.",
          "The owner thanked the neighbours.", "Parking was hard to find in the morning.",
          "A local paper wrote about the opening hours.", "The lights were replaced last year.",
          "Most visitors came in the afternoon.", "The windows were cleaned before noon.",
          "Several people asked about the holidays."]


def generate_reports(rows: int, seed: int) -> pd.DataFrame:
    """`rows` distinct (source, target) pairs: a report and its one-line summary."""
    rng = random.Random(seed)
    pairs: dict[str, str] = {}
    while len(pairs) < rows:
        shop = rng.choice(sorted(SHOPS))
        fact = {"day": rng.choice(DAYS), "place": rng.choice(PLACES), "shop": shop, "verb": rng.choice(VERBS),
                "thing": rng.choice(SHOPS[shop]), "n": rng.randrange(2, 500)}
        sentences = rng.sample(FILLER, rng.randrange(1, 3))
        sentences.insert(rng.randrange(len(sentences) + 1), rng.choice(FACTS).format(**fact))
        source = " ".join(sentence[0].upper() + sentence[1:] for sentence in sentences)
        pairs[source] = "{place} {shop} {verb} {n} {thing} on {day}".format(**fact)
    return pd.DataFrame({"source": list(pairs), "target": list(pairs.values())})

"""The built-in language-modelling data: little stories whose later words follow from earlier ones.

Deterministic for a seed, and context pays off beyond word frequencies: a story's names come back ("mia had five
pears. mia gave one to tom. now mia has four pears and tom has one."), counts are counted out and then repeated, and
the day after monday is tuesday. A unigram model cannot know which name or number comes next; a small transformer
that reads the story so far can, so its perplexity drops clearly below the unigram baseline.
"""

from __future__ import annotations

import random

import pandas as pd

NAMES = "mia tom ava leo zoe sam ida max eva ben lily noah ruby otto nina hugo".split()
NUMBERS = "zero one two three four five six seven eight nine".split()
DAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
PLACES = "garden kitchen market forest harbour library meadow attic".split()
THINGS = "pears apples shells stones buttons cakes kites marbles".split()
PETS = {"cat": "purrs", "dog": "barks", "owl": "hoots", "hen": "clucks", "goat": "bleats", "frog": "croaks"}
PET_NAMES = "pip moss dot fig bramble pepper sox nutmeg".split()


def count_story(rng: random.Random, name: str, friend: str) -> str:
    """Counting out loud, then the total: the total is the last number counted."""
    n, thing, place = rng.randrange(2, 8), rng.choice(THINGS), rng.choice(PLACES)
    counted = ", ".join(NUMBERS[1:n + 1])
    return f"{name} counted the {thing} in the {place}: {counted}. there were {NUMBERS[n]} {thing}."


def give_story(rng: random.Random, name: str, friend: str) -> str:
    """Giving one away: the names come back, and the count goes down by one."""
    n, thing = rng.randrange(2, 10), rng.choice(THINGS)
    return (f"{name} had {NUMBERS[n]} {thing}. {name} gave one to {friend}. now {name} has {NUMBERS[n - 1]} {thing} "
            f"and {friend} has one.")


def day_story(rng: random.Random, name: str, friend: str) -> str:
    """Days in order: the second day is the day after the first."""
    day, place, other = rng.randrange(7), rng.choice(PLACES), rng.choice(PLACES)
    return (f"on {DAYS[day]} {name} went to the {place} with {friend}. on {DAYS[(day + 1) % 7]} {name} went to the "
            f"{other} alone.")


def pet_story(rng: random.Random, name: str, friend: str) -> str:
    """A pet's name and kind, and the sound that kind makes, all repeated later."""
    pet, pet_name, day = rng.choice(sorted(PETS)), rng.choice(PET_NAMES), rng.choice(DAYS)
    return (f"{name} has a {pet} called {pet_name}. every {day} {pet_name} the {pet} {PETS[pet]} at {friend}, and "
            f"{name} laughs.")


STORIES = (count_story, give_story, day_story, pet_story)


def generate_stories(rows: int, seed: int) -> pd.DataFrame:
    """`rows` distinct texts (column `text`), each two or three little stories about the same two people."""
    rng = random.Random(seed)
    texts: dict[str, None] = {}  # a dict keeps the first-seen order, so the frame is the same for a seed
    while len(texts) < rows:
        name, friend = rng.sample(NAMES, 2)
        parts = rng.sample(STORIES, rng.randrange(2, 4))
        texts[" ".join(part(rng, name, friend) for part in parts)] = None
    return pd.DataFrame({"text": list(texts)})

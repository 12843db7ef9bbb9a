"""The built-in chat data: small instructions whose answers can be checked, mixed, some with a system prompt and
some a follow-up that needs the turn before it.

Deterministic for a seed. Each task's answer follows from its question by a rule a small decoder can learn in
minutes (add two digits, name the day after, reverse or sort a few words, count them, name an animal's sound), so
a fine-tune beats its untuned base by far on exact match, and a wrong answer is plainly wrong.
"""

from __future__ import annotations

import random

import pandas as pd

from tasks.kinds.chat.conversations import dump_conversation

DAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
WORDS = "red blue green apple river stone cloud lamp fox bread kite moon salt tree wolf door".split()
SOUNDS = {"cat": "purrs", "dog": "barks", "owl": "hoots", "hen": "clucks", "goat": "bleats", "frog": "croaks",
          "cow": "moos", "duck": "quacks"}
NAMES = "mia tom ava leo zoe sam ida max eva ben lily noah ruby otto nina hugo".split()
SYSTEM = "you answer in as few words as you can."


def add_numbers(rng: random.Random) -> tuple[str, str]:
    # One digit each: a byte-level tokenizer makes most two-digit numbers one token, and a small model cannot add
    # tokens it has to memorise whole.
    a, b = rng.randrange(0, 10), rng.randrange(0, 10)
    return f"what is {a} plus {b}?", str(a + b)


def next_day(rng: random.Random) -> tuple[str, str]:
    """Asked plainly or about two people meeting: hundreds of ways to ask a rule of seven answers."""
    day = rng.randrange(7)
    name, friend = rng.sample(NAMES, 2)
    question = rng.choice((f"which day comes after {DAYS[day]}?",
                           f"{name} met {friend} on {DAYS[day]}. which day came next?",
                           f"{name} works on {DAYS[day]}. which day does {name} rest?"))
    return question, DAYS[(day + 1) % 7]


def reverse_words(rng: random.Random) -> tuple[str, str]:
    words = rng.sample(WORDS, rng.randrange(2, 5))
    return f"reverse these words: {' '.join(words)}", " ".join(reversed(words))


def sort_words(rng: random.Random) -> tuple[str, str]:
    words = rng.sample(WORDS, rng.randrange(2, 5))
    return f"sort these words: {' '.join(words)}", " ".join(sorted(words))


def count_words(rng: random.Random) -> tuple[str, str]:
    words = rng.choices(WORDS, k=rng.randrange(1, 9))
    return f"how many words are in: {' '.join(words)}", str(len(words))


def animal_sound(rng: random.Random) -> tuple[str, str]:
    animal, name = rng.choice(sorted(SOUNDS)), rng.choice(NAMES)
    if rng.random() < 0.5:
        return f"what does a {animal} do?", f"a {animal} {SOUNDS[animal]}."
    return f"{name} has a {animal}. what does it do?", f"it {SOUNDS[animal]}."


TASKS = (add_numbers, next_day, reverse_words, sort_words, count_words, animal_sound)


def make_conversation(rng: random.Random) -> list[dict[str, str]]:
    """One task; a quarter with the system prompt; a fifth of the day questions get a follow-up about the day after."""
    task = rng.choice(TASKS)
    question, answer = task(rng)
    turns = [{"role": "system", "content": SYSTEM}] if rng.random() < 0.25 else []
    turns += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    if task is next_day and rng.random() < 0.2:
        turns += [{"role": "user", "content": "and the day after that?"},
                  {"role": "assistant", "content": DAYS[(DAYS.index(answer) + 1) % 7]}]
    return turns


def generate_conversations(rows: int, seed: int) -> pd.DataFrame:
    """`rows` distinct conversations (column `messages`, JSON text), in the order first generated."""
    rng = random.Random(seed)
    found: dict[str, None] = {}  # a dict keeps the first-seen order, so the frame is the same for a seed
    attempts = 0
    while len(found) < rows:
        attempts += 1
        if attempts > rows * 50:  # the tasks above have some thousands of distinct questions, not unboundedly many
            raise ValueError(f"the built-in chat data has fewer than {rows} distinct conversations")
        found[dump_conversation(make_conversation(rng))] = None
    return pd.DataFrame({"messages": list(found)})

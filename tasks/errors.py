"""The one exception lmforge raises for bad input: its message is the sentence the user sees."""


class LmforgeError(Exception):
    """Bad input or state, said in one sentence: what, where, and how to fix it."""

"""Beam search in NumPy over any decoder step, so that an encoder-decoder exported to ONNX generates without PyTorch.

It follows transformers' own beam search (GenerationMixin._beam_search, transformers 5) step for step: 2 x beams
candidates per sentence, finished hypotheses scored with sum log p / generated_length ** length_penalty,
early_stopping=True (a sentence is done once it holds `beams` finished hypotheses), a forced first token (mBART-50's
target language, BART-large's <s>) and the model's forced EOS at the last position. Two differences, neither of which
changes a result: a sentence that can no longer change leaves the batch (transformers keeps computing it until the
whole batch is done), and ties between equal scores may be broken in another order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

NEG = -1.0e9  # transformers' "never choose this" score
# step(token ids (rows,), rows to keep from the previous call's state (rows,)) -> (log-probabilities, token ids), each
# (rows, k), of each row's k most likely next tokens, best first: the decoder with its cache, which the step reorders
# (or shrinks) by the given row indices before running. Any k >= 2 x beams gives the same result as the whole
# vocabulary (no candidate of the best 2 x beams over all rows can rank lower within its own row), and spares NumPy a
# pass over rows x vocabulary scores at every step.
Step = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class BeamSettings:
    beams: int
    max_new_tokens: int
    length_penalty: float
    start_id: int
    eos_id: int
    pad_id: int
    forced_eos: bool = True  # the last position may only be EOS (generation_config.forced_eos_token_id)
    forced_bos_id: int | None = None  # the first generated token, when the model or its target language fixes it


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores per row, largest first (torch.topk's order)."""
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, 1), axis=1, kind="stable")
    return np.take_along_axis(part, order, 1)


def beam_search(step: Step, sentences: int, settings: BeamSettings) -> list[list[int]]:
    """The best hypothesis of each sentence as token ids (without the start token), for `sentences` encoded inputs
    whose decoder state the step holds as sentences x beams rows."""
    beams, max_length = settings.beams, 1 + settings.max_new_tokens
    keep, rows = 2 * beams, np.arange(sentences)
    running = np.full((sentences, beams, max_length), settings.pad_id, dtype=np.int64)
    running[:, :, 0] = settings.start_id
    running_scores = np.full((sentences, beams), NEG, dtype=np.float32)
    running_scores[:, 0] = 0.0
    done = np.full((sentences, beams, max_length), settings.pad_id, dtype=np.int64)
    done_scores = np.full((sentences, beams), NEG, dtype=np.float32)
    finished = np.zeros((sentences, beams), dtype=bool)
    active = np.arange(sentences)  # sentences still computed, in the order of the step's rows
    reorder = np.arange(sentences * beams)
    for length in range(1, max_length):
        log_probs, tokens = step(running[active, :, length - 1].reshape(-1), reorder)
        if len(log_probs[0]) < keep:
            raise ValueError(f"beam search over {beams} beams needs the {keep} best tokens of each row, "
                             f"the step gives {len(log_probs[0])}")
        forced = settings.forced_bos_id if length == 1 else None  # transformers' ForcedBOSTokenLogitsProcessor
        if settings.forced_eos and length == max_length - 1:  # ForcedEOSTokenLogitsProcessor, applied after it
            forced = settings.eos_id
        if forced is not None:
            log_probs, tokens = force_token(forced, log_probs, tokens)
        width = log_probs.shape[1]
        totals = (log_probs.reshape(len(active), beams, width) + running_scores[active, :, None]).reshape(len(active), -1)
        chosen = top_k(totals, keep)
        chosen_scores = np.take_along_axis(totals, chosen, 1)
        source_beam = chosen // width
        token = np.take_along_axis(tokens.reshape(len(active), -1), chosen, 1)
        candidates = np.take_along_axis(running[active], source_beam[:, :, None], 1)
        candidates[:, :, length] = token
        ends = (token == settings.eos_id) | (length + 1 >= max_length)
        # The beams that go on: the best `beams` candidates that did not end.
        open_scores = chosen_scores + ends * NEG
        going = top_k(open_scores, beams)
        running[active] = np.take_along_axis(candidates, going[:, :, None], 1)
        running_scores[active] = np.take_along_axis(open_scores, going, 1)
        # The finished ones: only candidates among the top `beams` may enter, scored with the length penalty.
        entering = ends & (np.arange(keep) < beams)[None, :]
        scores = chosen_scores / (length ** settings.length_penalty) + (~entering) * NEG
        scores += finished[active].all(1, keepdims=True) * NEG
        merged = np.concatenate([done[active], candidates], 1)
        merged_scores = np.concatenate([done_scores[active], scores], 1)
        merged_finished = np.concatenate([finished[active], entering], 1)
        best = top_k(merged_scores, beams)
        done[active] = np.take_along_axis(merged, best[:, :, None], 1)
        done_scores[active] = np.take_along_axis(merged_scores, best, 1)
        finished[active] = np.take_along_axis(merged_finished, best, 1)
        # transformers' early-stop check: can the best open beam still beat the worst finished hypothesis?
        best_open = running_scores[active, :1] / (length ** settings.length_penalty)
        worst_done = np.where(finished[active], done_scores[active].min(1, keepdims=True), NEG)
        improvable = (best_open > worst_done).any(1) & ~finished[active].all(1) & ~ends.all(1)
        source_rows = (np.arange(len(active))[:, None] * beams + np.take_along_axis(source_beam, going, 1))
        reorder = source_rows[improvable].reshape(-1)
        active = active[improvable]
        if not len(active):
            break
    return [trim(done[row, 0, 1:], settings) for row in rows]


def force_token(token: int, log_probs: np.ndarray, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every row's candidates as the one forced token (log-probability 0) and impossible others."""
    only = np.where(np.arange(log_probs.shape[1]) == 0, 0.0, -np.inf).astype(np.float32)
    return only[None].repeat(len(tokens), 0), np.full_like(tokens, token)


def trim(ids: np.ndarray, settings: BeamSettings) -> list[int]:
    """The ids up to and including the first EOS (every finished hypothesis has one, unless it ran out of length)."""
    ids = ids.tolist()
    return ids[:ids.index(settings.eos_id) + 1] if settings.eos_id in ids else ids

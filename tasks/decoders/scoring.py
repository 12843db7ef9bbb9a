"""A decoder's token losses: the negative log-likelihood of each labelled token given the ones before it, per row of
collated batches, and the perplexity of a total (label -100: not scored)."""

from __future__ import annotations

import math

import numpy as np

MAX_LOSS = 50.0  # exp(50) is already meaningless; a larger loss would overflow float perplexity


def token_losses(logits, labels) -> tuple:
    """(negative log-likelihood of each predicted token, whether it is scored), both (rows, length - 1): position t
    predicts label t + 1, and label -100 is not scored (padding)."""
    import torch

    shifted, targets = logits[:, :-1].float(), labels[:, 1:]
    losses = torch.nn.functional.cross_entropy(shifted.reshape(-1, shifted.shape[-1]), targets.reshape(-1),
                                               ignore_index=-100, reduction="none").view(targets.shape)
    scored = targets != -100
    return losses * scored, scored


def sequence_nll(logits, labels) -> tuple:
    """Per-row (summed negative log-likelihood, predicted tokens) of labels under logits (rows, length, vocab)."""
    losses, scored = token_losses(logits, labels)
    return losses.sum(-1), scored.sum(-1)


def perplexity_of(nll: float, tokens: int) -> tuple[float, float]:
    """(mean token loss, perplexity) of a total negative log-likelihood over `tokens` tokens."""
    loss = nll / max(tokens, 1)
    return loss, math.exp(min(loss, MAX_LOSS))


def score_batches(model, batches) -> tuple[np.ndarray, np.ndarray]:
    """Per-row (nll, predicted tokens) of collated batches (input_ids, attention_mask, labels), in their order."""
    import torch

    nll, tokens = [], []
    with torch.inference_mode():
        for batch in batches:
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            row_nll, row_tokens = sequence_nll(logits, batch["labels"])
            nll.append(row_nll.double().numpy())
            tokens.append(row_tokens.numpy())
    return (np.concatenate(nll), np.concatenate(tokens)) if nll else (np.zeros(0), np.zeros(0, dtype=int))

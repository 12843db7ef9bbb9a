"""Continuations of prompts in left-padded batches: the one batching that eager PyTorch (evaluate, the eager pyfunc)
and an ONNX export (causal_lm's onnx.py) both run, so that their continuations compare prompt for prompt.

A prompt is EOS and then its tokens, as a text starts after an EOS in the packed training blocks. A batch is prompts
of similar length padded on the left, so that every row's next token is predicted in the last column; position ids
count only a row's real tokens (transformers' own rule in generate: cumulative sum of the mask minus one, pads at 1),
so GPT-2's learnt positions and the rotary families' angles are those of the prompt alone. The pad id is EOS where
the tokenizer has none (GPT-2, Llama, Mistral, Phi, GPT-NeoX): the mask hides it, so its value never matters.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tasks.core.config import EvaluateParams

# run_batch(ids, mask, new_tokens) -> each row's generated ids (EOS and what follows it may be included)
RunBatch = Callable[[np.ndarray, np.ndarray, int], list[list[int]]]
DEFAULT_POSITIONS = 1024  # a config that names no position limit (rotary families often do not bound it)


def position_limit(config: dict) -> int:
    """The longest sequence the model reads: GPT-2's n_positions, the others' max_position_embeddings."""
    return int(config.get("n_positions") or config.get("max_position_embeddings") or DEFAULT_POSITIONS)


def encode_prompts(tokenizer, prompts: list[str], limit: int, max_new_tokens: int) -> list[list[int]]:
    """EOS and each prompt's ids (no BOS: training blocks have none), cut on the left to leave room for the
    continuation within the model's positions."""
    ids = tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
    keep = max(limit - max_new_tokens, 1)
    return [([tokenizer.eos_token_id] + row)[-keep:] for row in ids]


def pad_left(rows: list[list[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, attention mask), int64, each row right-aligned."""
    width = max(len(row) for row in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, width - len(row):], mask[i, width - len(row):] = row, 1
    return ids, mask


def position_ids(mask: np.ndarray) -> np.ndarray:
    """transformers' positions under left padding: real tokens count from 0, pads sit at 1."""
    return np.where(mask == 0, 1, np.maximum(mask.cumsum(-1) - 1, 0)).astype(np.int64)


def length_batches(encoded: list[list[int]], batch_size: int) -> list[list[int]]:
    """Row indices in batches of similar length (sorted, stable), so that padding stays short."""
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def continue_prompts(tokenizer, prompts: list[str], settings: EvaluateParams, limit: int, run_batch: RunBatch,
                     show_progress: bool = False) -> list[str]:
    """Each prompt's continuation as text (special tokens dropped, spaces stripped), in the prompts' order."""
    encoded = encode_prompts(tokenizer, prompts, limit, settings.max_new_tokens)
    return continue_ids(tokenizer, encoded, settings, limit, run_batch, show_progress)


def continue_ids(tokenizer, encoded: list[list[int]], settings: EvaluateParams, limit: int, run_batch: RunBatch,
                 show_progress: bool = False) -> list[str]:
    """Each encoded prompt's continuation as text (special tokens dropped, spaces stripped), in their order."""
    from tqdm.auto import tqdm

    found: dict[int, str] = {}
    for chunk in tqdm(length_batches(encoded, settings.batch_size), desc="generate", disable=not show_progress):
        ids, mask = pad_left([encoded[i] for i in chunk], tokenizer.pad_token_id)
        new = max(min(settings.max_new_tokens, limit - ids.shape[1]), 1)
        texts = tokenizer.batch_decode(run_batch(ids, mask, new), skip_special_tokens=True)
        found |= {i: text.strip() for i, text in zip(chunk, texts)}
    return [found[i] for i in range(len(encoded))]


def eager_runner(model, tokenizer, sample: bool, settings: EvaluateParams) -> RunBatch:
    """transformers' generate on a batch: greedy, or sampled with settings.temperature and top_k."""
    import torch

    options = dict(do_sample=True, temperature=settings.temperature, top_k=settings.top_k) if sample else \
        dict(do_sample=False)

    def run_batch(ids: np.ndarray, mask: np.ndarray, new: int) -> list[list[int]]:
        with torch.inference_mode():
            out = model.generate(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
                                 max_new_tokens=new, eos_token_id=tokenizer.eos_token_id,
                                 pad_token_id=tokenizer.pad_token_id, **options)
        return out[:, ids.shape[1]:].tolist()
    return run_batch


def eager_first_logits(model, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The next-token logits of a left-padded batch (rows, vocabulary): what parity compares on the first step."""
    import torch

    with torch.inference_mode():
        logits = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
                       position_ids=torch.from_numpy(position_ids(mask)), logits_to_keep=1).logits
    return logits[:, -1].float().numpy()


def generate_texts(model, tokenizer, prompts: list[str], settings: EvaluateParams, sample: bool = False,
                   seed: int = 0, show_progress: bool = False) -> list[str]:
    """Eager PyTorch continuations; sampling is seeded, so repeatable."""
    import torch

    torch.manual_seed(seed)
    limit = position_limit(model.config.to_dict())
    return continue_prompts(tokenizer, prompts, settings, limit, eager_runner(model, tokenizer, sample, settings),
                            show_progress)


def answer_ids(model, tokenizer, encoded: list[list[int]], max_new_tokens: int, temperature: float = 0.0,
               top_p: float = 1.0, seed: int | None = None, streamer=None) -> list[list[int]]:
    """Each encoded prompt's generated ids up to its end-of-text token (excluded), as one request asks for them:
    greedy at temperature 0, else sampled with temperature and top_p (seeded when `seed` is given, so repeatable).
    The prompts of a request form one left-padded batch; `streamer` (one prompt) receives the tokens as written."""
    import torch

    if seed is not None:
        torch.manual_seed(seed)
    limit = position_limit(model.config.to_dict())
    ids, mask = pad_left(encoded, tokenizer.pad_token_id)
    new = max(min(max_new_tokens, limit - ids.shape[1]), 1)
    options = dict(do_sample=True, temperature=temperature, top_p=top_p, top_k=0) if temperature > 0 else \
        dict(do_sample=False)
    with torch.inference_mode():
        out = model.generate(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask), max_new_tokens=new,
                             eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                             streamer=streamer, **options)
    rows = out[:, ids.shape[1]:].tolist()
    return [row[:row.index(tokenizer.eos_token_id)] if tokenizer.eos_token_id in row else row for row in rows]

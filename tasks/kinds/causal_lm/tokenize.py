"""tokenize for causal_lm: a byte-level BPE or Unigram tokenizer (tasks/decoders/tokenizer.py, or a pretrained one),
and texts packed into blocks.

Each text gets an end-of-text token, the texts of a split are concatenated, and the stream is cut into blocks of
tokenize.block_size tokens (run_clm's group_texts). Unlike run_clm the last, shorter block is kept: every token of
the test split is then scored, and the unigram baseline is measured on exactly the tokens the model predicts. A
block's labels are its input ids, made at collate time.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tasks.core.config import Params

PROMPT_WORDS = 4  # the words of a test text its continuation is generated from


def prepare_tokenizer(tokenizer):
    """A pretrained tokenizer as this kind uses it: GPT-2's has no pad token, so EOS pads (the collator never masks
    by pad id, so no end of text is hidden; the embeddings keep their size, so the base weights stay as they are).
    Generation pads on the left itself (tasks/decoders/generate.py), whatever the tokenizer's padding_side."""
    if tokenizer.eos_token is None:
        from tasks.core.errors import LmforgeError

        raise LmforgeError("the tokenizer has no end-of-text token (eos_token), which ends every text in causal_lm's "
                           "blocks; use a decoder's own tokenizer, or name one in its tokenizer_config.json.")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def encode_texts(tokenizer, texts: list[str]) -> list[list[int]]:
    """Each text's ids followed by EOS; no other special tokens (a BOS would otherwise sit in the middle of blocks)."""
    ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    return [row + [tokenizer.eos_token_id] for row in ids]


def pack_blocks(sequences: list[list[int]], block_size: int) -> list[list[int]]:
    """The sequences concatenated and cut into blocks of block_size; the remainder is a last, shorter block."""
    stream = [token for sequence in sequences for token in sequence]
    return [stream[start:start + block_size] for start in range(0, len(stream), block_size)]


def scoring_starts(length: int, block_size: int) -> list[int]:
    """Where the windows that score a stream of `length` tokens start: each overlaps the one before by one token, so
    every token after the stream's first is predicted exactly once (a packed block's first token, which training
    never predicts, is predicted here from the token before it, as a character-level model predicts every one)."""
    return list(range(0, max(length - 1, 1), block_size - 1)) if length else []


def scoring_blocks(blocks: list[dict]) -> list[dict]:
    """A split's packed blocks re-cut into scoring windows (scoring_starts) of the same size."""
    stream = [token for block in blocks for token in block["input_ids"]]
    size = max((len(block["input_ids"]) for block in blocks), default=2)
    return [{"input_ids": stream[start:start + size]} for start in scoring_starts(len(stream), size)]


def tokenize_texts(splits: dict[str, pd.DataFrame], params: Params, pretrained: str | None, out: Path) -> str:
    """Write out/tokenizer and one Parquet of packed blocks (input_ids) per split; returns the tokenizer's name."""
    from tasks.decoders.tokenizer import train_byte_tokenizer
    from tasks.training.tokenizer_io import load_tokenizer

    if pretrained:
        tokenizer = prepare_tokenizer(load_tokenizer(pretrained, params.model.trust_remote_code))
    else:
        tokenizer = train_byte_tokenizer(splits["train"]["text"].astype(str).tolist(), params.tokenize)
    tokenizer.save_pretrained(str(out / "tokenizer"))
    for name, frame in splits.items():
        blocks = pack_blocks(encode_texts(tokenizer, frame["text"].astype(str).tolist()), params.tokenize.block_size)
        pd.DataFrame({"input_ids": blocks}).to_parquet(out / f"{name}.parquet")
    return pretrained or f"byte-level {params.tokenize.algorithm}"


def read_blocks(tokenized_dir: str | Path, split: str) -> list[dict]:
    frame = pd.read_parquet(Path(tokenized_dir) / f"{split}.parquet")
    return [{"input_ids": ids.tolist()} for ids in frame["input_ids"]]


def collate_blocks(features: list[dict]) -> dict:
    """A batch of blocks: labels are the input ids, and -100 (no loss) where a short block is padded.

    transformers' DataCollatorForLanguageModeling sets every label equal to the pad id to -100; with GPT-2's pad =
    EOS that hides every end of text from the loss, so the model would never learn where a text ends."""
    import torch

    width = max(len(row["input_ids"]) for row in features)
    ids = torch.zeros((len(features), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, row in enumerate(features):
        ids[i, :len(row["input_ids"])] = torch.tensor(row["input_ids"], dtype=torch.long)
        mask[i, :len(row["input_ids"])] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, -100)}


def prompt_of(text: str) -> str:
    """The first PROMPT_WORDS words of a text (all but its last word when it is shorter): what a continuation follows."""
    words = str(text).split()
    return " ".join(words[:min(PROMPT_WORDS, max(len(words) - 1, 1))])

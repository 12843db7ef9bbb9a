"""A decoder's ONNX export (tasks.kinds.causal_lm.export) run on ONNX Runtime: greedy continuations driven from NumPy,
the keys and values of every layer held between steps, so each step feeds one new token per row. No PyTorch.

The batching is evaluate's (tasks.decoders.generate): prompts left-padded, the first call reads them whole
(an empty past), each later call one token per row. The past's mask grows by the mask of what was just fed, and a
row that wrote EOS leaves the batch (transformers keeps computing it until every row is done; the text is the same).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tasks.core.config import Params
from tasks.core.errors import LmforgeError
from tasks.registry.backends import INT8_FILE, ONNX_FILE, open_onnx_session

DECODER_FILES = {"onnx": ONNX_FILE, "onnx-int8": INT8_FILE}  # one graph per backend: the decoder step
FIXED_INPUTS = ("input_ids", "attention_mask", "past_mask", "position_ids")  # then each layer's past key, value


class OnnxGenerator:
    """Prompts to continuations with one exported decoder loaded once (a server answers many requests)."""

    def __init__(self, folder: str | Path, backend: str, params: Params):
        from tasks.training.loading import load_trained_tokenizer

        from tasks.decoders.generate import position_limit
        from tasks.kinds.causal_lm.tokenize import prepare_tokenizer

        folder = Path(folder)
        self.check_backend(backend)
        path = folder / DECODER_FILES[backend]
        if not path.is_file():
            raise LmforgeError(f"{path}: no {backend} export here; run `lmforge export` first.")
        # Its threads do not spin (open_onnx_session): a request calls the graph once per token with NumPy work
        # between, and spinning threads took the cores from it (a 124M decoder, 32 tokens at batch 8: 3.1 s, 1.1 not).
        self.session = open_onnx_session(path)
        self.names = [item.name for item in self.session.get_inputs()]
        # (heads, head width) of each past tensor: fixed in the graph, the batch and past length are not
        self.past_shapes = [tuple(item.shape[i] for i in (1, 3)) for item in self.session.get_inputs()[len(FIXED_INPUTS):]]
        self.tokenizer = prepare_tokenizer(load_trained_tokenizer(folder))
        self.limit = position_limit(json.loads((folder / "config.json").read_text()))
        self.params = params

    @staticmethod
    def check_backend(backend: str) -> None:
        if backend not in DECODER_FILES:
            raise LmforgeError(f"backend {backend!r} does not run causal_lm models; use eager, {', '.join(DECODER_FILES)}.")

    def run_step(self, ids, mask, past_mask, positions, past) -> tuple[np.ndarray, list[np.ndarray]]:
        """(next-token logits per row, the keys and values grown by the positions fed)."""
        logits, *present = self.session.run(None, dict(zip(self.names, [ids, mask, past_mask, positions, *past])))
        return logits, present

    def empty_past(self, rows: int) -> list[np.ndarray]:
        return [np.zeros((rows, heads, 0, width), np.float32) for heads, width in self.past_shapes]

    def first_logits(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The next-token logits of a left-padded batch of prompts (parity compares them with eager's)."""
        from tasks.decoders.generate import position_ids

        return self.run_step(ids, mask, np.zeros((len(ids), 0), np.int64), position_ids(mask), self.empty_past(len(ids)))[0]

    def generate_ids(self, ids: np.ndarray, mask: np.ndarray, new_tokens: int) -> list[list[int]]:
        """Greedy: each row's generated ids, up to and including its EOS."""
        from tasks.decoders.generate import position_ids

        eos = self.tokenizer.eos_token_id
        written: list[list[int]] = [[] for _ in ids]
        rows = np.arange(len(ids))  # the batch's rows still writing
        past, past_mask, positions = self.empty_past(len(ids)), np.zeros((len(ids), 0), np.int64), position_ids(mask)
        for _ in range(new_tokens):
            logits, past = self.run_step(ids, mask, past_mask, positions, past)
            chosen = logits.argmax(-1)
            for row, token in zip(rows, chosen.tolist()):
                written[row].append(token)
            going = chosen != eos
            past_mask = np.concatenate([past_mask, mask], 1)
            positions = positions[:, -1:] + 1
            if not going.all():
                rows, chosen, past_mask, positions = rows[going], chosen[going], past_mask[going], positions[going]
                past = [array[going] for array in past]
                if not len(rows):
                    break
            ids, mask = chosen[:, None].astype(np.int64), np.ones((len(rows), 1), np.int64)
        return written

    def __call__(self, prompts: list[str], show_progress: bool = False) -> list[str]:
        from tasks.decoders.generate import continue_prompts

        return continue_prompts(self.tokenizer, prompts, self.params.evaluate, self.limit, self.generate_ids,
                                show_progress)

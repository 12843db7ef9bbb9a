"""A seq2seq model's ONNX export (tasks.kinds.seq2seq.export) run on ONNX Runtime: the encoder once per batch, then
tasks.kinds.seq2seq.beam_search drives the decoder step, holding the self-attention keys/values between steps. No PyTorch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tasks.registry.backends import SEQ2SEQ_FILES, open_onnx_session
from tasks.kinds.seq2seq.beam_search import BeamSettings, beam_search
from tasks.core.config import Params
from tasks.core.errors import LmforgeError


def read_beam_settings(folder: Path, params: Params, start: dict[str, int] | None = None) -> BeamSettings:
    """The ids generation needs, from the model's own config and generation config (`start`, what generate is given
    besides: a target language's forced first token), and params.evaluate's search."""
    config = json.loads((folder / "config.json").read_text())
    generation_file = folder / "generation_config.json"
    generation = json.loads(generation_file.read_text()) if generation_file.is_file() else {}
    pick = lambda key: generation.get(key, config.get(key))  # noqa: E731
    eos, first = pick("eos_token_id"), (start or {}).get("forced_bos_token_id", pick("forced_bos_token_id"))
    return BeamSettings(beams=params.evaluate.num_beams, max_new_tokens=params.evaluate.max_new_tokens,
                        length_penalty=params.evaluate.length_penalty, start_id=int(pick("decoder_start_token_id")),
                        eos_id=int(eos[0] if isinstance(eos, list) else eos), pad_id=int(pick("pad_token_id")),
                        forced_eos=pick("forced_eos_token_id") is not None,
                        forced_bos_id=None if first is None else int(first))


class DecoderState:
    """The decoder's inputs for the rows beam search keeps: encoder outputs repeated per beam, and the growing past."""

    def __init__(self, session, encoded: list[np.ndarray], mask: np.ndarray, beams: int):
        self.session, self.names = session, [item.name for item in session.get_inputs()]
        self.fixed = [np.repeat(array, beams, 0) for array in (mask, *encoded)]  # mask, states, cross keys/values
        heads, width = encoded[1].shape[1], encoded[1].shape[3]
        self.past = [np.zeros((len(self.fixed[0]), heads, 0, width), np.float32) for _ in encoded[1:]]

    def __call__(self, tokens: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(rows) != len(self.fixed[0]):  # sentences left: rows within a sentence share their encoder outputs
            self.fixed = [array[rows] for array in self.fixed]
        past = [array[rows] for array in self.past]
        mask, states, *cross = self.fixed
        values = [tokens[:, None].astype(np.int64), mask, states, *past, *cross]
        log_probs, best, *self.past = self.session.run(None, dict(zip(self.names, values)))
        return log_probs, best


class OnnxTranslator:
    """Texts to texts with one exported model loaded once (a server answers many requests)."""

    def __init__(self, folder: str | Path, backend: str, params: Params):
        from tasks.kinds.seq2seq.languages import forced_start
        from tasks.kinds.seq2seq.tokenize import load_pair_tokenizers

        folder = Path(folder)
        self.check_backend(backend)
        missing = [name for name in SEQ2SEQ_FILES[backend] if not (folder / name).is_file()]
        if missing:
            raise LmforgeError(f"{folder / missing[0]}: no {backend} export here; run `lmforge export` first.")
        self.encoder, self.decoder = (open_onnx_session(folder / name) for name in SEQ2SEQ_FILES[backend])
        self.tokenizer, self.detokenizer = load_pair_tokenizers(folder, params)
        self.params = params
        self.settings = read_beam_settings(folder, params, forced_start(self.tokenizer, params))

    @staticmethod
    def check_backend(backend: str) -> None:
        if backend not in SEQ2SEQ_FILES:
            raise LmforgeError(f"backend {backend!r} does not run seq2seq models; use eager, {', '.join(SEQ2SEQ_FILES)}.")

    def generate_ids(self, batch) -> list[list[int]]:
        ids, mask = batch["input_ids"].astype(np.int64), batch["attention_mask"].astype(np.int64)
        encoded = self.encoder.run(None, {"input_ids": ids, "attention_mask": mask})
        return beam_search(DecoderState(self.decoder, encoded, mask, self.settings.beams), len(ids), self.settings)

    def __call__(self, sources: list[str], show_progress: bool = False) -> list[str]:
        from tasks.kinds.seq2seq.evaluate import translate_batches

        return translate_batches(self.tokenizer, self.detokenizer, sources, self.params, self.generate_ids, "np",
                                 show_progress)

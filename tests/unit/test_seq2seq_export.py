"""A tiny random encoder-decoder exported for ONNX Runtime: NumPy beam search over the exported graphs gives the same
token ids as transformers' generate, for several beam sizes and length penalties, with and without a forced first
token."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.core.config import load_params
from tests.conftest import REPO

VOCAB, EOS, PAD = 30, 2, 1


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """An untrained 1+1-layer Marian model and its export; weights drawn wide (init_std 0.3, not 0.02) so that its
    next-token distributions are far from uniform and hypotheses end at different lengths."""
    import torch
    from transformers import MarianConfig, MarianMTModel

    from tasks.export import describe_error
    from tasks.kinds.seq2seq.export import write_seq2seq_exports

    torch.manual_seed(3)
    config = MarianConfig(vocab_size=VOCAB, decoder_vocab_size=VOCAB, d_model=16, encoder_layers=1, decoder_layers=1,
                          encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
                          max_position_embeddings=64, pad_token_id=PAD, eos_token_id=EOS, decoder_start_token_id=PAD,
                          forced_eos_token_id=EOS, scale_embedding=True, init_std=0.3)
    model = MarianMTModel(config).eval()
    folder = tmp_path_factory.mktemp("marian")
    model.save_pretrained(str(folder))
    errors = write_seq2seq_exports(folder, folder, describe_error)
    assert errors == {"onnx": "", "onnx-int8": ""}, errors
    return model, folder


def sources() -> tuple[np.ndarray, np.ndarray]:
    """Eight sources of different lengths, right-padded as the tokenizer pads them."""
    rng = np.random.default_rng(7)
    lengths = [9, 3, 6, 9, 1, 4, 8, 5]
    ids = np.full((len(lengths), max(lengths)), PAD, dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, length in enumerate(lengths):
        ids[row, :length - 1], ids[row, length - 1], mask[row, :length] = rng.integers(3, VOCAB, length - 1), EOS, 1
    return ids, mask


def generated(row: list[int]) -> list[int]:
    """transformers' output row without the start token, cut after the first EOS."""
    row = row[1:]
    return row[:row.index(EOS) + 1] if EOS in row else row


@pytest.mark.parametrize("beams,length_penalty,first", [(1, 1.0, None), (2, 1.0, None), (4, 1.0, None), (4, 0.3, None),
                                                        (3, 2.0, None), (4, 1.0, 7), (1, 1.0, 7)])
def test_onnx_beam_search_gives_transformers_ids(exported, beams, length_penalty, first):
    import torch

    from tasks.kinds.seq2seq.beam_search import beam_search
    from tasks.kinds.seq2seq.onnx import DecoderState, read_beam_settings
    from tasks.registry.backends import open_onnx_session as open_session

    model, folder = exported
    start = {"forced_bos_token_id": first} if first else {}  # a target language's code, as mBART-50's
    params = load_params(REPO / "params.seq2seq.yaml", [f"evaluate.num_beams={beams}", "evaluate.max_new_tokens=12",
                                                        f"evaluate.length_penalty={length_penalty}"])
    ids, mask = sources()
    with torch.inference_mode():
        eager = model.generate(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask), num_beams=beams,
                               max_new_tokens=12, length_penalty=length_penalty, early_stopping=beams > 1, **start)
    encoder, decoder = open_session(folder / "encoder.onnx"), open_session(folder / "decoder.onnx")
    settings = read_beam_settings(folder, params, start)
    assert (settings.start_id, settings.eos_id, settings.pad_id, settings.forced_eos) == (PAD, EOS, PAD, True)
    assert settings.forced_bos_id == first
    encoded = encoder.run(None, {"input_ids": ids, "attention_mask": mask})
    found = beam_search(DecoderState(decoder, encoded, mask, beams), len(ids), settings)
    expected = [generated(row) for row in eager.tolist()]
    assert found == expected
    assert first is None or {row[0] for row in found} == {first}
    assert len({len(row) for row in expected}) > 1, "every hypothesis had one length: the test would miss length bugs"


def test_beam_search_refuses_a_step_that_gives_too_few_tokens():
    from tasks.kinds.seq2seq.beam_search import BeamSettings, beam_search

    settings = BeamSettings(beams=4, max_new_tokens=5, length_penalty=1.0, start_id=PAD, eos_id=EOS, pad_id=PAD)
    step = lambda tokens, rows: (np.zeros((len(rows), 6), np.float32), np.zeros((len(rows), 6), np.int64))  # noqa: E731
    with pytest.raises(ValueError, match="needs the 8 best tokens of each row, the step gives 6"):
        beam_search(step, 2, settings)

"""An encoder-decoder as two ONNX graphs that beam search can drive from NumPy (tasks.kinds.seq2seq.onnx):

- encoder.onnx: (input_ids, attention_mask) -> the encoder's states, and every decoder layer's cross-attention keys
  and values (computed once per sentence, not once per generated token);
- decoder.onnx: one step, (the last token, the source mask, the encoder's states, each layer's past self-attention
  keys/values, the cross keys/values) -> the log-probabilities and ids of the 32 likeliest next tokens (log-softmax
  and top-k in the graph: done in NumPy they took a quarter of the time) and the self-attention keys/values grown by
  one position.

Each is traced with torch.export around the model's own modules (transformers' EncoderDecoderCache carries the
state), then converted by torch's dynamo ONNX exporter, as the classifier is. Optimum's ORT seq2seq classes would do
this, but optimum-onnx pins transformers < 4.58 and lmforge runs transformers 5. The past length may be 0, so the
first step needs no graph of its own. int8 is onnxruntime's dynamic quantization of both graphs.
"""

from __future__ import annotations

from pathlib import Path

from tasks.registry.backends import SEQ2SEQ_FILES, drop_stack_traces
from tasks.core.config import Params

TOP_TOKENS = 32  # the decoder graph's output per row: enough for 16 beams (tasks.kinds.seq2seq.beam_search says why)
MAX_BLEU_DIFF = 0.5  # parity: an export's test BLEU may differ from eager PyTorch's by this much
NOT_BUILT = {"torch-export": "seq2seq beam search drives the ONNX graphs from NumPy; the torch.export "
                             "programs they are made from are not kept"}


def layer_names(prefix: str, layers: int) -> list[str]:
    return [f"{prefix}_{kind}_{i}" for i in range(layers) for kind in ("key", "value")]


def trace_seq2seq(model_dir: str | Path):
    """(encoder program, decoder-step program, the decoder step's input names, output names)."""
    import torch
    from transformers import AutoModelForSeq2SeqLM
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    model = AutoModelForSeq2SeqLM.from_pretrained(str(model_dir)).eval()
    config, decoder = model.config, model.get_decoder()
    layers = len(decoder.layers)

    class Encoder(torch.nn.Module):
        def forward(self, input_ids, attention_mask):
            states = model.get_encoder()(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            cross = []
            for layer in decoder.layers:
                attention = layer.encoder_attn
                shape = (*states.shape[:-1], -1, attention.head_dim)
                cross += [attention.k_proj(states).view(shape).transpose(1, 2),
                          attention.v_proj(states).view(shape).transpose(1, 2)]
            return (states, *cross)

    class Step(torch.nn.Module):
        def forward(self, input_ids, encoder_attention_mask, encoder_hidden_states, past, cross):
            cache = EncoderDecoderCache(DynamicCache(config=config), DynamicCache(config=config))
            for i in range(layers):
                cache.self_attention_cache.update(past[2 * i], past[2 * i + 1], i)
                cache.cross_attention_cache.update(cross[2 * i], cross[2 * i + 1], i)
                cache.is_updated[i] = True  # the cross keys/values are given: the layer must not recompute them
            hidden = decoder(input_ids=input_ids, encoder_hidden_states=encoder_hidden_states,
                             encoder_attention_mask=encoder_attention_mask, cache=cache, use_cache=True).last_hidden_state
            # The model's own head (Marian adds final_logits_bias there), on the last position only.
            logits = model.lm_head(hidden[:, -1:])
            if hasattr(model, "final_logits_bias"):
                logits = logits + model.final_logits_bias
            top = torch.log_softmax(logits[:, 0].float(), -1).topk(min(TOP_TOKENS, logits.shape[-1]), -1)
            grown = [tensor for layer in cache.self_attention_cache.layers for tensor in (layer.keys, layer.values)]
            return (top.values, top.indices, *grown)

    batch, source, past_length = torch.export.Dim("batch"), torch.export.Dim("source"), torch.export.Dim("past")
    ids = torch.randint(4, min(config.vocab_size, 100), (3, 7))
    mask = torch.ones(3, 7, dtype=torch.long)
    mask[0, -2:] = 0  # a padded row, so that masking is traced
    with torch.inference_mode():
        encoded = Encoder()(ids, mask)
    encoder = torch.export.export(Encoder().eval(), (ids, mask), dynamic_shapes={
        "input_ids": {0: batch, 1: source}, "attention_mask": {0: batch, 1: source}})
    heads, width = encoded[1].shape[1], encoded[1].shape[3]
    past = tuple(torch.randn(3, heads, 4, width) for _ in range(2 * layers))
    example = (ids[:, :1], mask, encoded[0], past, tuple(encoded[1:]))
    step = torch.export.export(Step().eval(), example, dynamic_shapes=(
        {0: batch}, {0: batch, 1: source}, {0: batch, 1: source},
        tuple({0: batch, 2: past_length} for _ in past), tuple({0: batch, 2: source} for _ in past)))
    inputs = ["input_ids", "encoder_attention_mask", "encoder_hidden_states", *layer_names("past", layers),
              *layer_names("cross", layers)]
    return encoder, step, inputs, ["log_probs", "tokens", *layer_names("present", layers)]


def write_seq2seq_exports(model_dir: str | Path, out: Path, describe) -> dict[str, str]:
    """Write both backends' graphs into `out`; per backend, the error that stopped it ("" when none)."""
    import logging

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    errors = dict.fromkeys(SEQ2SEQ_FILES, "")
    logging.disable(logging.WARNING)  # torch.onnx lists absent torchvision ops; the quantizer suggests pre-processing
    try:
        encoder, step, inputs, outputs = trace_seq2seq(model_dir)
        drop_stack_traces(encoder, step)
        layers = (len(inputs) - 3) // 4
        encoder_file, decoder_file = SEQ2SEQ_FILES["onnx"]
        torch.onnx.export(encoder, input_names=["input_ids", "attention_mask"], dynamo=True, verbose=False,
                          output_names=["encoder_hidden_states", *layer_names("cross", layers)]).save(str(out / encoder_file))
        torch.onnx.export(step, input_names=inputs, output_names=outputs, dynamo=True,
                          verbose=False).save(str(out / decoder_file))
    except Exception as error:  # noqa: BLE001 - recorded per backend; the eager model still serves
        return dict.fromkeys(SEQ2SEQ_FILES, describe(error))
    try:
        for fp32, int8 in zip(SEQ2SEQ_FILES["onnx"], SEQ2SEQ_FILES["onnx-int8"]):
            quantize_dynamic(str(out / fp32), str(out / int8), weight_type=QuantType.QInt8, per_channel=True,
                             reduce_range=True)  # the classifier's settings (tasks/export.py says why)
    except Exception as error:  # noqa: BLE001
        errors["onnx-int8"] = describe(error)
    finally:
        logging.disable(logging.NOTSET)
    return errors


def check_translation_parity(folder: Path, params: Params, sources: list[str], references: list[str],
                             eager: dict, backend: str) -> dict:
    """Test BLEU of one backend against eager PyTorch's (`eager`: its hypotheses, BLEU and seconds)."""
    import time

    from tasks.kinds.seq2seq.metrics import corpus_scores
    from tasks.kinds.seq2seq.onnx import OnnxTranslator

    start = time.perf_counter()
    hyps = OnnxTranslator(folder, backend, params)(sources)
    seconds = time.perf_counter() - start
    bleu = corpus_scores(hyps, references)["bleu"] if sources else eager["bleu"]
    return {"bleu": bleu, "bleu_eager": eager["bleu"], "bleu_diff": round(bleu - eager["bleu"], 4),
            "identical": round(sum(a == b for a, b in zip(hyps, eager["hyps"])) / max(len(sources), 1), 6),
            "rows": len(sources), "seconds": round(seconds, 2), "eager_seconds": eager["seconds"],
            "speedup": round(eager["seconds"] / seconds, 3) if seconds else None,
            "status": "passed" if abs(bleu - eager["bleu"]) <= MAX_BLEU_DIFF else "failed",
            "files": list(SEQ2SEQ_FILES[backend]), "bytes": sum((folder / name).stat().st_size for name in SEQ2SEQ_FILES[backend])}


def export_translator(params: Params, model_dir: str | Path, out: Path, sources: list[str], references: list[str],
                      describe) -> dict:
    """Both backends written into `out` and each checked on the test pairs against eager beam search."""
    import time

    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from tasks.kinds.seq2seq.evaluate import generate
    from tasks.kinds.seq2seq.metrics import corpus_scores
    from tasks.kinds.seq2seq.tokenize import target_tokenizer

    errors = write_seq2seq_exports(model_dir, out, describe)
    not_built = {backend: {"status": "not built", "reason": reason} for backend, reason in NOT_BUILT.items()}
    if all(errors.values()):  # nothing to check against eager beam search: spare the test split's generation
        return {**{backend: {"status": "failed", "error": error} for backend, error in errors.items()}, **not_built,
                "max_bleu_diff": MAX_BLEU_DIFF}
    model = AutoModelForSeq2SeqLM.from_pretrained(str(model_dir)).eval()
    start = time.perf_counter()
    hyps = generate(model, AutoTokenizer.from_pretrained(str(model_dir)), target_tokenizer(model_dir), sources, params)
    eager = {"hyps": hyps, "seconds": round(time.perf_counter() - start, 2),
             "bleu": corpus_scores(hyps, references)["bleu"] if sources else 0.0}
    record = {backend: {"status": "failed", "error": error} if error else
              check_translation_parity(out, params, sources, references, eager, backend)
              for backend, error in errors.items()}
    return {**record, **not_built, "max_bleu_diff": MAX_BLEU_DIFF}

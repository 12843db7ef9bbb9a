"""The two programs of an encoder-decoder's export, traced with torch.export through the model's own forward, so that
one tracing serves every family transformers gives an EncoderDecoderCache to (BART, mBART, Marian, T5, a warm-started
EncoderDecoderModel): T5's relative position bias with a past and its rescaled tied head, Marian's
final_logits_bias, mBART's final layer norms all come from the family's code, none from lmforge's.

- the encoder program: (input_ids, attention_mask) -> the encoder's states and every decoder layer's cross-attention
  keys and values. The model's own decoder runs one step on an empty cache and the cross keys/values are read back
  from it: they depend on the encoder's states only, so the dummy step's other outputs are dead code that the
  exporters drop (the graph keeps the encoder and each layer's key/value projections).
- the step program: one decoder step, (the last token, the source mask, the encoder's states, each layer's past
  self-attention keys/values, the cross keys/values) -> the log-probabilities and ids of the TOP_TOKENS likeliest next
  tokens, and the self-attention keys/values grown by one position. The cache is rebuilt from its inputs with each
  cross layer marked as computed, so that the step reuses them rather than projecting the encoder's states again.
"""

from __future__ import annotations

from pathlib import Path

TOP_TOKENS = 32  # the step's output per row: enough for 16 beams (tasks.kinds.seq2seq.beam_search says why)


def layer_names(prefix: str, layers: int) -> list[str]:
    return [f"{prefix}_{kind}_{i}" for i in range(layers) for kind in ("key", "value")]


def cache_tensors(cache) -> list:
    return [tensor for layer in cache.layers for tensor in (layer.keys, layer.values)]


def trace_seq2seq(model_dir: str | Path):
    """(encoder program, step program, the step's input names, its output names, decoder layers)."""
    import torch
    from transformers import AutoModelForSeq2SeqLM

    from tasks.training.loading import load_trained
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache
    from transformers.modeling_outputs import BaseModelOutput

    model = load_trained(AutoModelForSeq2SeqLM, model_dir)
    config = model.config

    def new_cache(past=(), cross=()):
        cache = EncoderDecoderCache(DynamicCache(config=config), DynamicCache(config=config))
        for i in range(len(past) // 2):
            cache.self_attention_cache.update(past[2 * i], past[2 * i + 1], i)
            cache.cross_attention_cache.update(cross[2 * i], cross[2 * i + 1], i)
            cache.is_updated[i] = True
        return cache

    def run_decoder(tokens, mask, states, cache):
        return model(encoder_outputs=BaseModelOutput(last_hidden_state=states), attention_mask=mask,
                     decoder_input_ids=tokens, cache=cache, use_cache=True).logits

    class Encoder(torch.nn.Module):
        def forward(self, input_ids, attention_mask):
            states = model.get_encoder()(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            cache = new_cache()
            run_decoder(torch.zeros_like(input_ids[:, :1]), attention_mask, states, cache)  # any token will do
            return (states, *cache_tensors(cache.cross_attention_cache))

    class Step(torch.nn.Module):
        def forward(self, input_ids, encoder_attention_mask, encoder_hidden_states, past, cross):
            cache = new_cache(past, cross)
            logits = run_decoder(input_ids, encoder_attention_mask, encoder_hidden_states, cache)[:, -1].float()
            top = torch.log_softmax(logits, -1).topk(min(TOP_TOKENS, logits.shape[-1]), -1)
            return (top.values, top.indices, *cache_tensors(cache.self_attention_cache))

    # Learned positions bound the lengths (BERT's, warm-started, are guarded at 512); T5's relative ones do not.
    source_max = getattr(model.get_encoder().config, "max_position_embeddings", None)
    target_max = getattr(model.get_decoder().config, "max_position_embeddings", None)
    batch, source = torch.export.Dim("batch"), torch.export.Dim("source", **({"max": source_max} if source_max else {}))
    past_length = torch.export.Dim("past", **({"max": target_max - 1} if target_max else {}))
    ids = torch.randint(4, min(model.get_input_embeddings().num_embeddings, 100), (3, 7))
    mask = torch.ones(3, 7, dtype=torch.long)
    mask[0, -2:] = 0  # a padded row, so that masking is traced
    with torch.inference_mode():
        states, *cross = Encoder()(ids, mask)
    layers = len(cross) // 2
    encoder = torch.export.export(Encoder().eval(), (ids, mask), dynamic_shapes={
        "input_ids": {0: batch, 1: source}, "attention_mask": {0: batch, 1: source}})
    # A past of 4 positions traces the general case; ONNX Runtime runs the same graph with a past of 0 first.
    past = tuple(torch.randn(3, tensor.shape[1], 4, tensor.shape[3]) for tensor in cross)
    step = torch.export.export(Step().eval(), (ids[:, :1], mask, states, past, tuple(cross)), dynamic_shapes=(
        {0: batch}, {0: batch, 1: source}, {0: batch, 1: source},
        tuple({0: batch, 2: past_length} for _ in past), tuple({0: batch, 2: source} for _ in cross)))
    inputs = ["input_ids", "encoder_attention_mask", "encoder_hidden_states", *layer_names("past", layers),
              *layer_names("cross", layers)]
    return encoder, step, inputs, ["log_probs", "tokens", *layer_names("present", layers)], layers

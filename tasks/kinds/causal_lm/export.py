"""A decoder-only model as one ONNX graph that greedy generation drives from NumPy (tasks.kinds.causal_lm.onnx):

model.onnx: one step, (the new tokens, their mask, the past's mask, their positions, each layer's past keys and
values) -> the next-token logits of each row and every layer's keys and values grown by the new positions. The past
length may be 0, so one graph reads a whole left-padded prompt and then one token per step.

It is traced with torch.export around the family's own forward (a DynamicCache built from the past inputs, the
positions and the mask given as generate gives them), then converted by torch's dynamo ONNX exporter, as seq2seq's
decoder is: Optimum's ONNX exporters (optimum-onnx 0.1.0, the newest) pin transformers < 4.58 and lmforge runs
transformers 5. The mask arrives in two parts (past, new) and is joined inside the graph, so its length is the
past's plus the new tokens' by construction; one mask of the total length made torch.export refuse the dynamic
shapes (it cannot state total = past + new). int8 is onnxruntime's dynamic quantization of the weights, but for the
output head's.

Parity: the greedy continuations of the test prompts (as evaluate makes them: each test text's first words), on
ONNX Runtime against eager PyTorch, in the same left-padded batches; a backend passes when at least MIN_IDENTICAL of
its continuations are identical to eager's. The first step's largest logit difference is recorded beside it.
"""

from __future__ import annotations

from pathlib import Path

from tasks.registry.backends import drop_stack_traces
from tasks.core.config import Params
from tasks.kinds.causal_lm.onnx import DECODER_FILES, FIXED_INPUTS

# fp32 differs from eager by rounding only, so only a near tie may flip a greedy token (and the rest of its
# continuation): 5 % of prompts leaves room for those and none for a wrong mask or position. int8 moves every logit
# a little, and one flipped token changes the continuation after it: 80 % identical is kept close to eager's text.
MIN_IDENTICAL = {"onnx": 0.95, "onnx-int8": 0.8}
# The classifier's 7-bit weights (safe on CPUs without VNNI), but not the output head's: the head turns every small
# error into the logits greedy picks from. On the default model's 120 test prompts, 82.5 % of continuations stayed
# identical with every weight int8, 87.5 % with the head in fp32 (93.3 % at 8 bits, which risk overflow without VNNI).
INT8_METHOD = "dynamic, per-channel, 7-bit weights; the output head kept fp32"
PARITY_PROMPTS = 256  # eager generation of the whole test split would dominate the export's time on a large one
LOGIT_ROWS = 32  # the prompts whose first-step logits are compared (one batch)
NOT_BUILT = {"torch-export": "greedy generation drives the ONNX graph from NumPy; the torch.export program it is made "
                             "from is not kept"}


def layer_names(prefix: str, layers: int) -> list[str]:
    return [f"{prefix}_{kind}_{i}" for i in range(layers) for kind in ("key", "value")]


def trace_decoder(model_dir: str | Path):
    """(the decoder step as a torch.export program, its input names, output names)."""
    import torch
    from transformers import AutoModelForCausalLM

    from tasks.training.loading import load_trained
    from transformers.cache_utils import DynamicCache

    model = load_trained(AutoModelForCausalLM, model_dir)
    config = model.config

    class Step(torch.nn.Module):
        def forward(self, input_ids, attention_mask, past_mask, position_ids, past):
            cache = DynamicCache(config=config)
            for i in range(len(past) // 2):
                cache.update(past[2 * i], past[2 * i + 1], i)
            logits = model(input_ids=input_ids, attention_mask=torch.cat([past_mask, attention_mask], 1),
                           position_ids=position_ids, cache=cache, use_cache=True, logits_to_keep=1).logits
            grown = [tensor for layer in cache.layers for tensor in (layer.keys, layer.values)]
            return (logits[:, -1].float(), *grown)

    ids = torch.randint(0, config.vocab_size, (3, 2))
    with torch.no_grad():  # the past's shapes, from the family's own cache
        cache = model(input_ids=ids, use_cache=True).cache
    past = tuple(torch.randn(3, *layer.keys.shape[1:2], 5, layer.keys.shape[-1]) for layer in cache.layers
                 for _ in range(2))
    past_mask = torch.ones(3, 5, dtype=torch.long)
    past_mask[0, :2] = 0  # a left-padded row, so that masking is traced
    example = (ids, torch.ones(3, 2, dtype=torch.long), past_mask, torch.tensor([[3, 4], [5, 6], [5, 6]]), past)
    batch, new, past_length = torch.export.Dim("batch"), torch.export.Dim("sequence"), torch.export.Dim("past")
    program = torch.export.export(Step().eval(), example, dynamic_shapes=(
        {0: batch, 1: new}, {0: batch, 1: new}, {0: batch, 1: past_length}, {0: batch, 1: new},
        tuple({0: batch, 2: past_length} for _ in past)))
    layers = len(past) // 2
    return program, [*FIXED_INPUTS, *layer_names("past", layers)], ["logits", *layer_names("present", layers)]


def head_nodes(path: Path) -> list[str]:
    """The MatMul or Gemm nodes the logits come out of: the output head, which int8 leaves in fp32."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    making = {output: node for node in graph.node for output in node.output}
    found, waiting, seen = [], ["logits"], set()
    while waiting:
        node = making.get(waiting.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        if node.op_type in ("MatMul", "Gemm"):
            found.append(node.name)
        else:  # a cast, slice or bias between the head and the output
            waiting += list(node.input)
    return found


def write_decoder_exports(model_dir: str | Path, out: Path, describe) -> dict[str, str]:
    """Write both backends' graphs into `out`; per backend, the error that stopped it ("" when none)."""
    import logging

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    errors = dict.fromkeys(DECODER_FILES, "")
    logging.disable(logging.WARNING)  # torch.onnx lists absent torchvision ops; the quantizer suggests pre-processing
    try:
        try:
            program, inputs, outputs = trace_decoder(model_dir)
            drop_stack_traces(program)
            torch.onnx.export(program, input_names=inputs, output_names=outputs, dynamo=True,
                              verbose=False).save(str(out / DECODER_FILES["onnx"]))
        except Exception as error:  # noqa: BLE001 - recorded per backend; the eager model still serves
            return dict.fromkeys(DECODER_FILES, describe(error))
        try:
            # The quantizer turns a Gemm into a MatMul named NAME_MatMul before it reads the list.
            head = [name for node in head_nodes(out / DECODER_FILES["onnx"]) for name in (node, f"{node}_MatMul")]
            quantize_dynamic(str(out / DECODER_FILES["onnx"]), str(out / DECODER_FILES["onnx-int8"]),
                             weight_type=QuantType.QInt8, per_channel=True, reduce_range=True, nodes_to_exclude=head)
        except Exception as error:  # noqa: BLE001
            errors["onnx-int8"] = describe(error)
    finally:
        logging.disable(logging.NOTSET)
    return errors


def check_decoder_parity(folder: Path, params: Params, prompts: list[str], eager: dict, backend: str) -> dict:
    """One backend's greedy continuations against eager PyTorch's (`eager`: its texts, seconds, first-step logits)."""
    import time

    import numpy as np

    from tasks.kinds.causal_lm.onnx import OnnxGenerator

    generator = OnnxGenerator(folder, backend, params)
    start = time.perf_counter()
    texts = generator(prompts)
    seconds = time.perf_counter() - start
    identical = sum(a == b for a, b in zip(texts, eager["texts"])) / len(prompts) if prompts else 1.0
    logit_diff = float(np.abs(generator.first_logits(*eager["batch"]) - eager["logits"]).max(initial=0.0))
    files = [DECODER_FILES[backend], *[name.name for name in folder.glob(f"{DECODER_FILES[backend]}.data")]]
    return {"status": "passed" if identical >= MIN_IDENTICAL[backend] else "failed", "identical": round(identical, 6),
            "min_identical": MIN_IDENTICAL[backend], "max_abs_logit_diff": logit_diff, "rows": len(prompts),
            "seconds": round(seconds, 2), "eager_seconds": eager["seconds"],
            "speedup": round(eager["seconds"] / seconds, 3) if seconds else None,
            "files": files, "bytes": sum((folder / name).stat().st_size for name in files),
            **({"quantization": INT8_METHOD} if backend == "onnx-int8" else {})}


def generate_eager(params: Params, model_dir: str | Path, prompts: list[str]) -> dict:
    """Eager PyTorch's greedy continuations (and seconds), and its first-step logits on the first prompts."""
    import time

    from tasks.kinds.causal_lm.evaluate import load_causal_lm
    from tasks.decoders.generate import eager_first_logits, encode_prompts, generate_texts, pad_left, position_limit

    model, tokenizer = load_causal_lm(model_dir)
    start = time.perf_counter()
    texts = generate_texts(model, tokenizer, prompts, params.evaluate)
    seconds = round(time.perf_counter() - start, 2)
    encoded = encode_prompts(tokenizer, prompts[:LOGIT_ROWS] or [""], position_limit(model.config.to_dict()),
                             params.evaluate.max_new_tokens)
    batch = pad_left(encoded, tokenizer.pad_token_id)
    return {"texts": texts, "seconds": seconds, "batch": batch, "logits": eager_first_logits(model, *batch)}


def export_decoder(params: Params, model_dir: str | Path, out: Path, texts: list[str], describe) -> dict:
    """Both backends written into `out`, each checked on the test prompts against eager greedy generation; a family
    that cannot export, or fails parity, is recorded so and served eager."""
    import json

    from tasks.kinds.causal_lm.tokenize import prompt_of

    family = json.loads((Path(model_dir) / "config.json").read_text()).get("model_type", "unknown")
    errors = write_decoder_exports(model_dir, out, describe)
    not_built = {backend: {"status": "not built", "reason": reason} for backend, reason in NOT_BUILT.items()}
    if all(errors.values()):  # nothing to check against eager generation: spare the test prompts' generation
        return {**{backend: {"status": "failed", "error": error} for backend, error in errors.items()}, **not_built,
                "family": family}
    from tasks.registry.program_exports import check_backends

    prompts = [prompt_of(text) for text in texts[:PARITY_PROMPTS]]
    eager = generate_eager(params, model_dir, prompts)
    record = check_backends(errors, lambda backend: check_decoder_parity(out, params, prompts, eager, backend),
                            describe)
    return {**record, **not_built, "family": family}

"""An encoder-decoder as two ONNX graphs that beam search drives from NumPy (tasks.kinds.seq2seq.onnx): the encoder
with every decoder layer's cross-attention keys and values (once per sentence, not once per generated token), and one
decoder step that returns the 32 likeliest next tokens (log-softmax and top-k in the graph: done in NumPy they took a
quarter of the time) and the self-attention keys/values grown by one position. tasks.kinds.seq2seq.graphs traces both
through the model's own forward, whatever its family.

torch's dynamo ONNX exporter converts the torch.export programs, as for the classifier. Optimum's ORT seq2seq classes
would do this, but optimum-onnx (0.1.0, the latest on PyPI) pins transformers < 4.58 and lmforge runs transformers 5.
int8 is onnxruntime's dynamic quantization of both graphs. Parity: test BLEU within MAX_BLEU_DIFF of eager beam search.
"""

from __future__ import annotations

from pathlib import Path

from tasks.registry.backends import SEQ2SEQ_FILES, drop_stack_traces
from tasks.core.config import Params
from tasks.kinds.seq2seq.graphs import layer_names

MAX_BLEU_DIFF = 0.5  # parity: an export's test BLEU may differ from eager PyTorch's by this much
NOT_BUILT = {"torch-export": "seq2seq beam search drives the ONNX graphs from NumPy; the torch.export "
                             "programs they are made from are not kept"}


def write_seq2seq_exports(model_dir: str | Path, out: Path, describe) -> dict[str, str]:
    """Write both backends' graphs into `out`; per backend, the error that stopped it ("" when none)."""
    import logging

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from tasks.kinds.seq2seq.graphs import trace_seq2seq

    errors = dict.fromkeys(SEQ2SEQ_FILES, "")
    logging.disable(logging.WARNING)  # torch.onnx lists absent torchvision ops; the quantizer suggests pre-processing
    try:
        encoder, step, inputs, outputs, layers = trace_seq2seq(model_dir)
        drop_stack_traces(encoder, step)
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

    from transformers import AutoModelForSeq2SeqLM

    from tasks.training.loading import load_trained, load_trained_tokenizer

    from tasks.kinds.seq2seq.evaluate import generate
    from tasks.kinds.seq2seq.metrics import corpus_scores
    from tasks.kinds.seq2seq.tokenize import load_pair_tokenizers

    # The tokenizer as it loads, in whatever files its family keeps (Marian's source.spm and target.spm, not only
    # the tokenizer.json the export step copies), so that the export folder translates on its own.
    load_trained_tokenizer(model_dir).save_pretrained(str(out))
    errors = write_seq2seq_exports(model_dir, out, describe)
    not_built = {backend: {"status": "not built", "reason": reason} for backend, reason in NOT_BUILT.items()}
    if all(errors.values()):  # nothing to check against eager beam search: spare the test split's generation
        return {**{backend: {"status": "failed", "error": error} for backend, error in errors.items()}, **not_built,
                "max_bleu_diff": MAX_BLEU_DIFF}
    model = load_trained(AutoModelForSeq2SeqLM, model_dir)
    start = time.perf_counter()
    hyps = generate(model, *load_pair_tokenizers(model_dir, params), sources, params)
    eager = {"hyps": hyps, "seconds": round(time.perf_counter() - start, 2),
             "bleu": corpus_scores(hyps, references)["bleu"] if sources else 0.0}
    from tasks.registry.program_exports import check_backends

    record = check_backends(errors, lambda backend: check_translation_parity(out, params, sources, references, eager,
                                                                             backend), describe)
    return {**record, **not_built, "max_bleu_diff": MAX_BLEU_DIFF}

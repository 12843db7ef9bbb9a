"""The three exports of a model that maps token ids to logits (a classifier, a span model): its torch.export program,
ONNX from that program by torch's dynamo exporter, and int8 ONNX by the kind's own quantization. Each backend's
failure is recorded, not raised: an export that could not be built leaves the others, and eager PyTorch serves."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tasks.registry.backends import BACKEND_FILES, ONNX_FILE, PROGRAM_FILE, drop_stack_traces


def write_program_exports(trace: Callable[[], tuple], out: Path, outputs: list[str], quantize: Callable[[Path], dict],
                          describe_error: Callable[[Exception], str]) -> tuple[dict[str, str], dict]:
    """`trace()` gives (program, its input names); per backend, the error that stopped it ("" when none), and the
    int8 record `quantize(out)` returned."""
    import logging

    import torch

    errors, quantization = dict.fromkeys(BACKEND_FILES, ""), {}
    try:
        program, names = trace()
        drop_stack_traces(program)
        torch.export.save(program, str(out / PROGRAM_FILE))
    except Exception as error:  # noqa: BLE001 - recorded per backend; the eager model still serves
        return dict.fromkeys(BACKEND_FILES, describe_error(error)), quantization
    logging.disable(logging.WARNING)  # torch.onnx lists absent torchvision ops; the quantizer suggests pre-processing
    try:
        torch.onnx.export(program, input_names=names, output_names=outputs, dynamo=True,
                          verbose=False).save(str(out / ONNX_FILE))
    except Exception as error:  # noqa: BLE001 - recorded per backend; the eager model still serves
        errors["onnx"] = errors["onnx-int8"] = describe_error(error)
        return errors, quantization
    finally:
        logging.disable(logging.NOTSET)
    try:
        quantization = quantize(out)
    except Exception as error:  # noqa: BLE001 - recorded per backend; fp32 ONNX still serves
        errors["onnx-int8"] = describe_error(error)
    return errors, quantization


def check_backends(errors: dict[str, str], check: Callable[[str], dict],
                   describe_error: Callable[[Exception], str]) -> dict[str, dict]:
    """Each backend's parity record: the error that stopped its export, else `check(backend)`; a check that raises (a
    graph ONNX Runtime refuses, a generation that fails) is a failed record, so the eager model serves, and the
    version is still exported and promoted."""
    record = {}
    for backend, error in errors.items():
        if error:
            record[backend] = {"status": "failed", "error": error}
            continue
        try:
            record[backend] = check(backend)
        except Exception as failure:  # noqa: BLE001 - recorded per backend
            record[backend] = {"status": "failed", "error": describe_error(failure)}
    return record

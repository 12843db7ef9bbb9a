"""export: the registered classifier as a torch.export program, ONNX (dynamic batch and sequence axes) and int8 ONNX,
each parity-checked on the test split against eager PyTorch. The results go on the version's MLflow run and tags.
A seq2seq model is exported as an encoder and a decoder step, fp32 and int8, that beam search runs on ONNX Runtime
(tasks/kinds/seq2seq/export.py); its parity is test BLEU within 0.5 of eager beam search. A qa model's span graph
(start and end logits) is checked on what a user sees: its test answers, after the kind's window and span
post-processing, the same as eager PyTorch's for 99.5 % of the questions (tasks/kinds/qa/export.py).

ONNX comes from torch's own dynamo exporter, fed the torch.export program: one trace gives both files, and it needs
no Optimum (which pins older transformers). int8 is onnxruntime's dynamic quantization (weights int8, activations
quantized on the fly), the scheme for CPU inference of transformer encoders; a classifier's rows near a tie may fall
back to fp32 (tasks/kinds/classification/quantize.py). An export that fails its parity check is
recorded as failed, and `lmforge predict`/`serve` refuse it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tasks.registry.backends import BACKEND_FILES
from tasks.core.config import Params
from tasks.kinds import get_kind
from tasks.registry.registered import HASHES_KEY, PARITY_FILE, hash_folder
from tasks.core.run_record import read_run_record, split_facts, write_run_record
from tasks.core.runtime import run_entry, step

COPIED = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
          "vocab.txt", "lmforge.json")
TIMINGS = ("seconds", "eager_seconds", "speedup")  # of a backend's parity check: how fast here and now


def describe_error(error: Exception) -> str:
    return f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"


def export_dir(params: Params) -> Path:
    return Path(params.paths.export)


def export_model(params: Params, model_dir: str | Path, test) -> dict:
    """The pure core: the task kind's exports under export_dir(params), each checked for parity on the test split's
    rows (a DataFrame of them); the record is also parity.json."""
    from tasks.decoders.adapters import merged_folder
    from tasks.training.tokenizer_io import copy_tokenizers

    out = export_dir(params)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    with merged_folder(model_dir) as model_dir:  # a LoRA adapter kept apart is exported merged into its base
        for name in COPIED:
            if (Path(model_dir) / name).is_file():
                shutil.copy2(Path(model_dir) / name, out / name)
        copy_tokenizers(model_dir, out)
        record = get_kind(params.task).export_model(params, model_dir, out, test, describe_error)
    record[HASHES_KEY] = hash_folder(out)  # what a server checks the downloaded files against before loading them
    # parity.json: each backend's verdict; how fast it ran here and now goes to the run record (and the tags).
    split = {backend: split_facts(result, TIMINGS) if isinstance(result, dict) else (result, {})
             for backend, result in record.items()}
    (out / PARITY_FILE).write_text(json.dumps({backend: made for backend, (made, _) in split.items()}, indent=1))
    write_run_record(out, {backend: facts for backend, (_, facts) in split.items() if facts})
    return record


def describe_parity(result: dict) -> str:
    """One tag value: "passed: agreement 1.0000, max |dlogit| 2e-06, 1.7 MB" (seq2seq: "passed: BLEU 37.28 vs eager
    37.28, identical 1.0000, 1.66x eager's speed, 61.3 MB")."""
    if "error" in result or "reason" in result:
        return f"{result['status']}: {result.get('error') or result['reason']}"
    if "min_identical" in result:  # causal_lm: greedy continuations against eager's
        return (f"{result['status']}: greedy continuations identical {result['identical']:.4f} (at least "
                f"{result['min_identical']:.2f}), max |dlogit| {result['max_abs_logit_diff']:.2g}, "
                f"{result['bytes'] / 1e6:.1f} MB")
    if "bleu" in result:
        return (f"{result['status']}: BLEU {result['bleu']:.2f} vs eager {result['bleu_eager']:.2f}, identical "
                f"{result['identical']:.4f}, {result['speedup'] or 0:.2f}x eager's speed, {result['bytes'] / 1e6:.1f} MB")
    compared = "answer agreement" if result.get("compared") == "answers" else "agreement"  # qa: answers, not labels
    return (f"{result['status']}: {compared} {result['agreement']:.4f}, max |dlogit| {result['max_abs_logit_diff']:.2g}, "
            f"{result['bytes'] / 1e6:.1f} MB")


def summarize_export(record: dict) -> str:
    """One line for the run summary: each backend's parity verdict."""
    def verdict(result: dict) -> str:
        if "min_identical" in result:
            return f" (identical {result['identical']:.4f})"
        if "agreement" in result:
            return f" ({result['agreement']:.4f})"
        if "bleu_diff" in result:
            return f" (BLEU {result['bleu_diff']:+.2f})"
        return f" ({result['error'][:100]})" if result.get("error") else ""  # why it could not export
    return "  ".join(f"{backend} {result['status']}{verdict(result)}"
                     for backend, result in record.items() if backend in BACKEND_FILES)


def record_export(params: Params, version: str, run_id: str, record: dict) -> None:
    """The files on the version's run under export/, and one tag per backend on the version."""
    from tasks.registry import tracking

    client = tracking.client(params)
    client.log_artifacts(run_id, str(export_dir(params)), "export")
    tags = {f"export_{backend}": describe_parity(result) for backend, result in record.items() if backend in BACKEND_FILES}
    for key, value in tags.items():
        client.set_model_version_tag(params.registry.model_name, version, key, value[:5000])


def holds_run(folder: str | Path, run_id: str) -> bool:
    """Whether a local model folder holds the model of this MLflow run (its run record says so)."""
    return read_run_record(folder).get("run_id") == run_id


def fetch_model(params: Params, version: str, run_id: str) -> Path:
    """The model files of a registered version: the local model folder when it holds that version, else a download."""
    import tempfile

    import mlflow

    if holds_run(params.paths.model, run_id):
        return Path(params.paths.model)
    target = Path(tempfile.mkdtemp(prefix=f"lmforge-v{version}-"))
    mlflow.artifacts.download_artifacts(f"models:/{params.registry.model_name}/{version}", dst_path=str(target))
    model = next(config.parent for config in target.rglob("config.json"))
    # MLflow's transformers flavour keeps the tokenizer in components/tokenizer: put it beside the weights, or
    # AutoTokenizer would build a wrong one from the config alone (SST-2 dev accuracy fell to 0.49).
    for file in next(found.parent for found in target.rglob("tokenizer.json")).iterdir():
        if not (model / file.name).exists():
            shutil.copy2(file, model / file.name)
    return model


def read_test(params: Params):
    """The validated test split: the rows parity is checked on."""
    import pandas as pd

    return pd.read_parquet(Path(params.paths.validated) / "test.parquet")


def export_version(params: Params, version: str, run_id: str) -> dict:
    """Export a registered version and record the result on it."""
    record = export_model(params, fetch_model(params, version, run_id), read_test(params))
    record_export(params, version, run_id, record)
    return record


@step
def export(params: Params, version: str, run_id: str) -> dict:
    return export_version(params, version, run_id)


def main(params: Params) -> None:
    """Under DVC: export the version register has just added (data/registered.json)."""
    from tasks.register import read_registered

    registered = read_registered(params)
    print(json.dumps(export_version(params, registered.version, registered.run_id), indent=1))


if __name__ == "__main__":
    run_entry(main)

"""Before training: does the checkpoint fit the task kind (its architecture family) and this machine (its memory)?
Both are read from the checkpoint's files (config.json, the safetensors headers), without loading a weight, so that a
model that cannot work stops the run in one sentence before any data is read."""

from __future__ import annotations

import json
from pathlib import Path

from tasks.core.errors import LmforgeError

# Bytes a parameter costs while training: fp32 weights, fp32 gradients and AdamW's two moments (16 for a full fine-
# tune); with LoRA, the frozen fp32 weights alone, or bf16 ones when train.precision is bf16 (the adapter is small).
FULL_BYTES, LORA_BYTES, LORA_BF16_BYTES = 16, 4, 2
GIB = 1024 ** 3
MAPPINGS = {"AutoModelForSequenceClassification": "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES",
            "AutoModelForQuestionAnswering": "MODEL_FOR_QUESTION_ANSWERING_MAPPING_NAMES",
            "AutoModelForSeq2SeqLM": "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES",
            "AutoModelForCausalLM": "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES"}


def read_config(folder: str | Path) -> dict:
    try:
        return json.loads((Path(folder) / "config.json").read_text())
    except (OSError, ValueError):
        return {}


def family_mapping(auto_class: str) -> dict[str, str]:
    """model_type -> model class of a transformers Auto class (AutoModelForCausalLM ...), as transformers maps them;
    its table of names, not the class, so that torch is not imported for it."""
    from transformers.models.auto import modeling_auto

    return dict(getattr(modeling_auto, MAPPINGS[auto_class]))


def encoder_families() -> set[str]:
    """Families whose pretraining is masked language modelling (BERT, RoBERTa ...) or encoder-decoders (BART):
    transformers gives some of them a causal LM head, but none was trained to continue text."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    return set(MODEL_FOR_MASKED_LM_MAPPING_NAMES)


def check_family(folder: str | Path, auto_class: str, task: str, key: str, trusted: bool = False) -> None:
    """One sentence when the checkpoint's architecture is not one the task kind can load (a model with its own code,
    trusted, may map the kind's Auto class to its own class)."""
    config = read_config(folder)
    family = config.get("model_type", "")
    fits = family in family_mapping(auto_class) or (trusted and auto_class in (config.get("auto_map") or {}))
    if auto_class == "AutoModelForCausalLM":
        fits = fits and family not in encoder_families() and not config.get("is_encoder_decoder")
    if not fits:
        raise LmforgeError(f"{key}: a {family or 'unknown'} checkpoint cannot be a task: {task} model "
                           f"(transformers' {auto_class} does not take it as one); name a checkpoint of a family "
                           f"that kind uses (docs/kinds.md lists them), or change task.")


def weight_files(folder: Path) -> list[Path]:
    """The safetensors files transformers loads: the shards an index names, else model.safetensors, else every one
    but an adapter's and a second copy for another runtime (consolidated.safetensors)."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        return [folder / name for name in sorted(set(json.loads(index.read_text())["weight_map"].values()))]
    if (folder / "model.safetensors").is_file():
        return [folder / "model.safetensors"]
    return [path for path in sorted(folder.glob("*.safetensors")) if not path.name.startswith(("adapter_", "consolidated"))]


def count_parameters(folder: str | Path) -> int:
    """Parameters of the checkpoint's weights, from their safetensors headers."""
    from safetensors import safe_open

    total = 0
    for path in weight_files(Path(folder)):
        with safe_open(str(path), framework="np") as weights:
            for name in weights.keys():
                shape = weights.get_slice(name).get_shape()
                size = 1
                for dim in shape:
                    size *= dim
                total += size
    return total


def available_memory() -> tuple[int, str]:
    """Bytes training may use here, and where: the first GPU's total memory, else the RAM available now."""
    import os

    import psutil

    if os.path.isdir("/proc/driver/nvidia"):  # torch (3 s to import) only where a GPU may be
        import torch

        if torch.cuda.is_available():
            return torch.cuda.mem_get_info()[1], f"the GPU ({torch.cuda.get_device_name(0)})"
    return psutil.virtual_memory().available, "this machine's free memory"


def training_bytes(parameters: int, lora: bool, precision: str) -> int:
    per = (LORA_BF16_BYTES if precision == "bf16" else LORA_BYTES) if lora else FULL_BYTES
    return parameters * per


def check_memory(folder: str | Path, key: str, lora: bool, precision: str,
                 available: tuple[int, str] | None = None) -> int:
    """The bytes training this checkpoint needs (weights, gradients, optimizer state; activations come on top);
    one sentence naming what would help when they exceed what is available."""
    parameters = count_parameters(folder)
    need = training_bytes(parameters, lora, precision)
    have, where = available or available_memory()
    if need > have:
        how = ("train.lora (its frozen weights cost 4 bytes a parameter, 2 with train.precision: bf16), "
               if not lora else "train.precision: bf16 (its frozen weights in bf16: 2 bytes a parameter), "
               if precision != "bf16" else "")
        raise LmforgeError(f"{key}: {parameters / 1e6:,.0f} M parameters need about {need / GIB:.1f} GiB to train "
                           f"({training_bytes(1, lora, precision)} bytes a parameter for weights, gradients and "
                           f"optimizer state), more than {where} ({have / GIB:.1f} GiB); set {how}name a smaller "
                           "model, or train where there is more memory.")
    return need

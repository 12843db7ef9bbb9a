"""A decoder-only model for training: a checkpoint (safetensors only) or a small GPT-2 from scratch sized to its
tokenizer, optionally wrapped with LoRA (PEFT); and saving it so that AutoModelForCausalLM loads the folder alone."""

from __future__ import annotations

import json
from pathlib import Path

from tasks.core.config import LoraParams, Params
from tasks.hub.models import pretrained_folder

MIN_POSITIONS = 256  # a from-scratch model's positions: a block, and room for a prompt plus its answer
LORA_MERGE_ATTR = "lmforge_lora_merge"  # set on the Trainer: save_model is given only the trainer and a folder


def build_decoder(params: Params, tokenizer, positions: int):
    """From model.pretrained (safetensors only), or a small GPT-2 from model.from_scratch sized to the tokenizer,
    reading `positions` tokens at least."""
    from transformers import AutoModelForCausalLM, GPT2Config

    if params.model.pretrained:
        return AutoModelForCausalLM.from_pretrained(pretrained_folder(params), use_safetensors=True,
                                                    trust_remote_code=params.model.trust_remote_code,
                                                    dtype=frozen_dtype(params))
    size = params.model.from_scratch
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=max(positions, MIN_POSITIONS),
                        n_embd=size.hidden_size, n_layer=size.layers, n_head=size.heads, n_inner=size.intermediate_size,
                        resid_pdrop=size.dropout, embd_pdrop=size.dropout, attn_pdrop=size.dropout,
                        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    return AutoModelForCausalLM.from_config(config)


def lora_targets(model, lora: LoraParams) -> list[str] | str:
    """train.lora.target_modules, or PEFT's own choice for the model's family (its per-architecture table, which
    get_peft_model reads too: c_attn for GPT-2, q_proj and v_proj for Llama, Qwen2 and Mistral, query_key_value for
    GPT-NeoX, ...); one sentence for a family PEFT has no entry for."""
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_TARGETS

    from tasks.core.errors import LmforgeError

    if lora.target_modules:
        return list(lora.target_modules)
    family = model.config.model_type
    if family not in PEFT_TARGETS:
        raise LmforgeError(f"PEFT has no default LoRA target modules for {family} models; set "
                           "train.lora.target_modules to the names of the layers to adapt (e.g. [q_proj, v_proj]).")
    targets = PEFT_TARGETS[family]
    return targets if isinstance(targets, str) else list(targets)  # a string is a pattern to PEFT: kept whole


def frozen_dtype(params: Params):
    """bf16 for the weights LoRA keeps frozen when training runs in bf16: half the memory (tasks/training/fit.py counts
    2 bytes a parameter), and autocast computes in bf16 anyway; else the checkpoint's own (None)."""
    from tasks.training.budget import choose_device

    if params.train.lora is None or not choose_device(params.train.precision)["bf16"]:
        return None
    import torch

    return torch.bfloat16


def attach_lora(model, lora: LoraParams):
    """The model wrapped by PEFT: its weights frozen, low-rank updates of the target modules the only trained part."""
    import warnings

    from peft import LoraConfig, TaskType, get_peft_model

    config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                        target_modules=lora_targets(model, lora), task_type=TaskType.CAUSAL_LM)
    with warnings.catch_warnings():
        # GPT-2's Conv1D stores weights transposed; PEFT notices, sets fan_in_fan_out itself and warns about it.
        warnings.filterwarnings("ignore", message=".*fan_in_fan_out.*")
        return get_peft_model(model, config)


def save_decoder(trainer, out: Path) -> None:
    """The trained model in `out`:

    - no LoRA: the whole model (safetensors);
    - LoRA, merge: the adapter merged into the weights, saved as a plain model;
    - LoRA, no merge: the adapter alone (adapter_model.safetensors, adapter_config.json) and lmforge_base.json naming
      its base (tasks/decoders/adapters.py), which load_decoder finds again; token embeddings the chat template's
      markers added to the base are saved with the adapter."""
    from tasks.decoders.adapters import write_base

    merge = getattr(trainer, LORA_MERGE_ATTR, None)
    out.mkdir(parents=True, exist_ok=True)
    if merge is None:
        trainer.save_model(str(out))
        return
    model = trainer.model
    if merge:
        # fp32 again after a bf16 base took the update: what evaluate, export and serving load, as without LoRA.
        model.merge_and_unload().float().save_pretrained(str(out), safe_serialization=True)
        return
    base = Path(model.peft_config["default"].base_model_name_or_path)
    base_vocab = json.loads((base / "config.json").read_text()).get("vocab_size")
    vocab = model.get_input_embeddings().num_embeddings
    model.save_pretrained(str(out), safe_serialization=True, save_embedding_layers=vocab != base_vocab)
    write_base(out, base, vocab)

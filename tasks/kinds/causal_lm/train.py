"""train for causal_lm: a decoder-only model (tasks/decoders/build.py: a local checkpoint or a small GPT-2 from
scratch, optionally adapted with LoRA) trained on packed blocks; the best epoch by validation loss."""

from __future__ import annotations

from pathlib import Path

from tasks.core.config import Params
from tasks.core.records import TokenizedData


def lm_trainer(params: Params, tokens: TokenizedData, tokenizer, checkpoints: Path, callbacks: list,
               show_progress: bool):
    """A Trainer over the packed train and validation blocks; the best epoch by validation loss."""
    from transformers import Trainer, TrainingArguments

    from tasks.decoders.build import LORA_MERGE_ATTR, attach_lora, build_decoder
    from tasks.kinds.causal_lm.tokenize import collate_blocks, prepare_tokenizer, read_blocks
    from tasks.training.budget import training_arguments

    tokenizer = prepare_tokenizer(tokenizer)
    model = build_decoder(params, tokenizer, params.tokenize.block_size)
    if params.train.lora is not None:
        model = attach_lora(model, params.train.lora)
    settings = training_arguments(params, checkpoints, show_progress, "eval_loss")
    # Blocks are all block_size long (bar one per split): grouping by length has nothing to group. label_names: a
    # PEFT model's forward hides `labels` behind **kwargs, and without them Trainer reports no eval_loss.
    args = TrainingArguments(**(settings | {"train_sampling_strategy": "random", "label_names": ["labels"]}))
    trainer = Trainer(model=model, args=args, train_dataset=read_blocks(tokens.path, "train"),
                      eval_dataset=read_blocks(tokens.path, "validation"), processing_class=tokenizer,
                      data_collator=collate_blocks, callbacks=callbacks)
    setattr(trainer, LORA_MERGE_ATTR, None if params.train.lora is None else params.train.lora.merge)
    return trainer

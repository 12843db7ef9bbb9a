"""train for chat: a decoder (tasks/decoders/build.py: a checkpoint or a small GPT-2 from scratch, optionally with
LoRA) fine-tuned on rendered conversations, the loss on the assistant's tokens only; the best epoch by validation
loss on those tokens."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tasks.core.config import Params
from tasks.core.records import TokenizedData
from tasks.kinds.chat.template import IGNORE


def read_conversations(tokenized_dir: str | Path, split: str) -> list[dict]:
    frame = pd.read_parquet(Path(tokenized_dir) / f"{split}.parquet")
    return [{"input_ids": ids.tolist(), "labels": labels.tolist()} for ids, labels in zip(frame["input_ids"],
                                                                                         frame["labels"])]


def collate_conversations(pad_id: int):
    """A batch of conversations padded on the right: pads are masked from attention and carry no loss."""
    def collate(features: list[dict]) -> dict:
        import torch

        width = max(len(row["input_ids"]) for row in features)
        ids = torch.full((len(features), width), pad_id, dtype=torch.long)
        labels = torch.full_like(ids, IGNORE)
        mask = torch.zeros_like(ids)
        for i, row in enumerate(features):
            length = len(row["input_ids"])
            ids[i, :length] = torch.tensor(row["input_ids"], dtype=torch.long)
            labels[i, :length] = torch.tensor(row["labels"], dtype=torch.long)
            mask[i, :length] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}
    return collate


def chat_trainer(params: Params, tokens: TokenizedData, tokenizer, checkpoints: Path, callbacks: list,
                 show_progress: bool):
    """A Trainer over the encoded train and validation conversations; the best epoch by validation loss."""
    from transformers import Trainer, TrainingArguments

    from tasks.decoders.build import LORA_MERGE_ATTR, attach_lora, build_decoder
    from tasks.training.budget import training_arguments

    model = build_decoder(params, tokenizer, params.tokenize.max_length)
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer))  # ChatML's markers, added to a checkpoint's tokenizer
    if params.train.lora is not None:
        model = attach_lora(model, params.train.lora)
    settings = training_arguments(params, checkpoints, show_progress, "eval_loss")
    # label_names: a PEFT model's forward hides `labels` behind **kwargs, and without them Trainer reports no eval_loss.
    args = TrainingArguments(**(settings | {"label_names": ["labels"]}))
    trainer = Trainer(model=model, args=args, train_dataset=read_conversations(tokens.path, "train"),
                      eval_dataset=read_conversations(tokens.path, "validation"), processing_class=tokenizer,
                      data_collator=collate_conversations(tokenizer.pad_token_id), callbacks=callbacks)
    setattr(trainer, LORA_MERGE_ATTR, None if params.train.lora is None else params.train.lora.merge)
    return trainer

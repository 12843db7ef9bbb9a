"""train for classification: a sequence classifier (local checkpoint with a new head, or a small BERT config) with the
Hugging Face Trainer, batches grouped by length; the best epoch by validation macro F1."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tasks.training.budget import training_arguments
from tasks.core.config import Params
from tasks.core.records import TokenizedData
from tasks.hub.models import pretrained_folder


def read_split(tokenized_dir: str | Path, name: str, label2id: dict[str, int]) -> list[dict]:
    frame = pd.read_parquet(Path(tokenized_dir) / f"{name}.parquet")
    return [{"input_ids": ids.tolist(), "labels": label2id[label]} for ids, label in zip(frame["input_ids"], frame["label"])]


def build_model(params: Params, labels: list[str], tokenizer):
    """From model.pretrained (a new head for these labels) or from the small from_scratch config."""
    from transformers import AutoModelForSequenceClassification, BertConfig

    label_maps = {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
                  "label2id": {label: i for i, label in enumerate(labels)}}
    if params.model.pretrained:
        return AutoModelForSequenceClassification.from_pretrained(
            pretrained_folder(params), use_safetensors=True, ignore_mismatched_sizes=True,
            trust_remote_code=params.model.trust_remote_code, **label_maps)
    size = params.model.from_scratch
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=size.hidden_size, num_hidden_layers=size.layers,
                        num_attention_heads=size.heads, intermediate_size=size.intermediate_size,
                        hidden_dropout_prob=size.dropout, attention_probs_dropout_prob=size.dropout,
                        max_position_embeddings=max(params.tokenize.max_length, 64), pad_token_id=tokenizer.pad_token_id,
                        **label_maps)
    return AutoModelForSequenceClassification.from_config(config)


def classification_trainer(params: Params, tokens: TokenizedData, tokenizer, labels: list[str], checkpoints: Path,
                           callbacks: list, show_progress: bool):
    """Trainer for a sequence classifier; the best epoch by validation macro F1."""
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    from tasks.kinds.classification.metrics import classification_metrics
    from tasks.training.sampling import length_grouped

    label2id = {label: i for i, label in enumerate(labels)}
    best_by = "eval_loss" if params.train.select_by == "loss" else "eval_f1_macro"
    args = TrainingArguments(**training_arguments(params, checkpoints, show_progress, best_by))

    def compute_metrics(prediction) -> dict[str, float]:
        return classification_metrics(prediction.label_ids, prediction.predictions.argmax(-1), labels, prefix="", per_class=False)

    return length_grouped(Trainer)(model=build_model(params, labels, tokenizer), args=args,
                   train_dataset=read_split(tokens.path, "train", label2id),
                   eval_dataset=read_split(tokens.path, "validation", label2id), processing_class=tokenizer,
                   data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=compute_metrics, callbacks=callbacks)

"""train for question answering: a BERT-style encoder with a span head (AutoModelForQuestionAnswering), from a local
checkpoint or a small config, trained on the windows of tasks.kinds.qa.tokenize with the Hugging Face Trainer."""

from __future__ import annotations

from pathlib import Path

from tasks.core.config import Params
from tasks.core.records import TokenizedData
from tasks.hub.models import pretrained_folder


def build_qa_model(params: Params, tokenizer):
    """From model.pretrained (a new span head on its encoder) or a small BERT from model.from_scratch."""
    from transformers import AutoModelForQuestionAnswering, BertConfig

    if params.model.pretrained:
        return AutoModelForQuestionAnswering.from_pretrained(pretrained_folder(params), use_safetensors=True,
                                                             trust_remote_code=params.model.trust_remote_code)
    size = params.model.from_scratch
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=size.hidden_size, num_hidden_layers=size.layers,
                        num_attention_heads=size.heads, intermediate_size=size.intermediate_size,
                        hidden_dropout_prob=size.dropout, attention_probs_dropout_prob=size.dropout,
                        max_position_embeddings=max(params.tokenize.max_length, 64),
                        pad_token_id=tokenizer.pad_token_id)
    return AutoModelForQuestionAnswering.from_config(config)


def qa_trainer(params: Params, tokens: TokenizedData, tokenizer, checkpoints: Path, callbacks: list,
               show_progress: bool):
    """The Trainer over the train and validation windows; the best epoch by validation loss (the span metrics need
    post-processing across windows, which Trainer's compute_metrics cannot see)."""
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    from tasks.training.budget import training_arguments
    from tasks.kinds.qa.tokenize import read_windows
    from tasks.training.sampling import length_grouped

    # train.label_smoothing is refused for qa at load time: Trainer's label smoother reads outputs.logits, which a
    # span model has not (it has start and end logits).
    args = TrainingArguments(**training_arguments(params, checkpoints, show_progress, "eval_loss"))

    # Batches of similar length, as the classifier's (tasks/training/sampling.py says why).
    return length_grouped(Trainer)(model=build_qa_model(params, tokenizer), args=args,
                                train_dataset=read_windows(tokens.path, "train"),
                                eval_dataset=read_windows(tokens.path, "validation"), processing_class=tokenizer,
                                data_collator=DataCollatorWithPadding(tokenizer), callbacks=callbacks)

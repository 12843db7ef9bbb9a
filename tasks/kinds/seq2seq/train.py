"""train for seq2seq: an encoder-decoder (local checkpoint, or a small Marian-style config) with Seq2SeqTrainer."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tasks.core.config import Params
from tasks.core.records import TokenizedData
from tasks.hub.models import pretrained_folder


def read_pairs(tokenized_dir: str | Path, name: str) -> list[dict]:
    frame = pd.read_parquet(Path(tokenized_dir) / f"{name}.parquet")
    return [{"input_ids": ids.tolist(), "labels": labels.tolist()} for ids, labels in zip(frame["input_ids"], frame["labels"])]


def warm_start(params: Params, tokenizer):
    """An encoder-decoder warm-started from BERT-style checkpoints (transformers' EncoderDecoderModel, Rothe et al.
    2020): the decoder gets causal masks and new cross-attention; the encoder's tokenizer serves both sides, its
    [CLS] starting and its [SEP] ending a target (tokenize leaves [CLS] out of the labels)."""
    from transformers import EncoderDecoderModel

    encoder, layers = pretrained_folder(params, "model.pretrained_encoder"), params.model.decoder_layers
    decoder = pretrained_folder(params, "model.pretrained_decoder") or encoder
    model = EncoderDecoderModel.from_encoder_decoder_pretrained(  # decoder_* reaches the decoder's config
        encoder, decoder, **({"decoder_num_hidden_layers": layers} if layers else {}))
    start = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    end = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    for config in (model.config, model.generation_config):
        config.decoder_start_token_id, config.eos_token_id, config.pad_token_id = start, end, tokenizer.pad_token_id
    model.config.vocab_size = model.config.decoder.vocab_size
    return model


def build_seq2seq(params: Params, tokenizer, target_tokenizer):
    """From model.pretrained, warm-started from model.pretrained_encoder, or Marian-style from model.from_scratch
    (sinusoidal positions, shared or split vocab)."""
    from transformers import AutoModelForSeq2SeqLM, MarianConfig

    if params.model.pretrained:
        return AutoModelForSeq2SeqLM.from_pretrained(pretrained_folder(params), use_safetensors=True,
                                                     trust_remote_code=params.model.trust_remote_code)
    if params.model.pretrained_encoder:
        return warm_start(params, tokenizer)
    size = params.model.from_scratch
    target = target_tokenizer or tokenizer
    config = MarianConfig(
        vocab_size=len(tokenizer), decoder_vocab_size=len(target), share_encoder_decoder_embeddings=target_tokenizer is None,
        d_model=size.hidden_size, encoder_layers=size.layers, decoder_layers=size.decoder_layers or size.layers,
        encoder_attention_heads=size.heads, decoder_attention_heads=size.heads, encoder_ffn_dim=size.intermediate_size,
        decoder_ffn_dim=size.intermediate_size, dropout=size.dropout, attention_dropout=0.0, activation_dropout=0.0,
        activation_function="gelu", scale_embedding=True,
        max_position_embeddings=max(params.tokenize.max_length, params.tokenize.max_target_length, 64),
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id, forced_eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=target_tokenizer is None)
    return AutoModelForSeq2SeqLM.from_config(config)


def bleu_metric(target_tokenizer):
    """compute_metrics for selecting the best epoch by validation BLEU (greedy generation)."""
    import numpy as np

    from tasks.kinds.seq2seq.metrics import corpus_scores

    def compute(prediction) -> dict[str, float]:
        # Trainer pads labels, and generated ids of batches of different lengths, with -100: no token id.
        labels = np.where(prediction.label_ids < 0, target_tokenizer.pad_token_id, prediction.label_ids)
        generated = np.where(prediction.predictions < 0, target_tokenizer.pad_token_id, prediction.predictions)
        hyps = target_tokenizer.batch_decode(generated, skip_special_tokens=True)
        refs = target_tokenizer.batch_decode(labels, skip_special_tokens=True)
        return {k: v for k, v in corpus_scores(hyps, refs).items() if not k.endswith("signature")}

    return compute


def seq2seq_trainer(params: Params, tokens: TokenizedData, tokenizer, checkpoints: Path, callbacks: list,
                    show_progress: bool):
    """The Trainer for an encoder-decoder; the best epoch by validation loss, or BLEU when train.select_by says so."""
    from transformers import DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments

    from tasks.kinds.seq2seq.tokenize import TARGET_DIR, target_tokenizer
    from tasks.training.budget import training_arguments

    cfg = params.train
    separate = (Path(tokens.path) / TARGET_DIR).is_dir()
    target = target_tokenizer(tokens.path)
    model = build_seq2seq(params, tokenizer, target if separate else None)
    # Under a time budget the best epoch is the one with the best BLEU, the metric reported: validation loss rises under
    # label smoothing while BLEU still improves, so selecting or stopping by it ended a 60-minute run worse than a 30.
    by_bleu = cfg.select_by == "bleu" or (cfg.select_by == "auto" and cfg.time_budget_s is not None)
    args = Seq2SeqTrainingArguments(
        **training_arguments(params, checkpoints, show_progress, "eval_bleu" if by_bleu else "eval_loss"),
        predict_with_generate=by_bleu, generation_max_length=params.evaluate.max_new_tokens, generation_num_beams=1)
    collate = DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100)
    return Seq2SeqTrainer(model=model, args=args, train_dataset=read_pairs(tokens.path, "train"),
                          eval_dataset=read_pairs(tokens.path, "validation"), processing_class=tokenizer,
                          data_collator=collate, compute_metrics=bleu_metric(target) if by_bleu else None,
                          callbacks=callbacks)

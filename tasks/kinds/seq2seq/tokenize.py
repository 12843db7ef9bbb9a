"""tokenize for seq2seq: one shared or two (source, target) fast tokenizers, BPE or Unigram, or a pretrained one."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tasks.core.config import Params

# The same ids in every tokenizer lmforge trains, so that source and target agree on padding and end of sequence.
PAIR_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
TARGET_DIR = "target_tokenizer"


def train_subwords(texts: list[str], params: Params):
    """A BPE or Unigram tokenizer learnt from texts; digits stay single so that numbers are read digit by digit."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    settings = params.tokenize
    if settings.algorithm == "unigram":
        core = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(vocab_size=settings.vocab_size, special_tokens=PAIR_SPECIALS,
                                          unk_token="<unk>", show_progress=False)
    else:
        core = Tokenizer(models.BPE(unk_token="<unk>"))
        trainer = trainers.BpeTrainer(vocab_size=settings.vocab_size, min_frequency=settings.min_frequency,
                                      special_tokens=PAIR_SPECIALS, show_progress=False)
    core.normalizer = normalizers.Sequence([normalizers.NFKC()] + ([normalizers.Lowercase()] if settings.lowercase else []))
    # Metaspace keeps word boundaries inside tokens, so decoding gives back the spaced text sacreBLEU scores.
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(), pre_tokenizers.Digits(individual_digits=True)])
    core.decoder = decoders.Metaspace()
    core.train_from_iterator(texts, trainer)
    core.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", core.token_to_id("</s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=core, model_max_length=settings.max_length, bos_token="<s>",
                                   eos_token="</s>", pad_token="<pad>", unk_token="<unk>")


def build_tokenizers(splits: dict[str, pd.DataFrame], params: Params, pretrained: str | None):
    """(source tokenizer, target tokenizer or None when shared) trained on the train split, or the pretrained one."""
    from tasks.training.tokenizer_io import load_tokenizer

    if pretrained:
        return load_tokenizer(pretrained), None
    train = splits["train"]
    if params.tokenize.shared:
        return train_subwords(train["source"].tolist() + train["target"].tolist(), params), None
    return train_subwords(train["source"].tolist(), params), train_subwords(train["target"].tolist(), params)


def tokenize_pairs(splits: dict[str, pd.DataFrame], params: Params, pretrained: str | None, out: Path) -> None:
    """Token ids of both sides per split, unpadded; the tokenizers saved beside them."""
    source_tok, target_tok = build_tokenizers(splits, params, pretrained)
    source_tok.save_pretrained(str(out / "tokenizer"))
    if target_tok is not None:
        target_tok.save_pretrained(str(out / TARGET_DIR))
    settings = params.tokenize
    for name, frame in splits.items():
        inputs = source_tok(frame["source"].tolist(), truncation=True, max_length=settings.max_length)["input_ids"]
        if target_tok is None:
            labels = source_tok(text_target=frame["target"].tolist(), truncation=True,
                                max_length=settings.max_target_length)["input_ids"]
            if params.model.pretrained_encoder and source_tok.cls_token_id is not None:
                # A warm-started decoder starts from [CLS] (its decoder_start_token_id): a label [CLS] would repeat it.
                labels = [row[1:] if row[:1] == [source_tok.cls_token_id] else row for row in labels]
        else:
            labels = target_tok(frame["target"].tolist(), truncation=True, max_length=settings.max_target_length)["input_ids"]
        pd.DataFrame({"input_ids": inputs, "labels": labels}).to_parquet(out / f"{name}.parquet")


def target_tokenizer(folder: str | Path):
    """The tokenizer that decodes the model's output (in a model or a tokenized-data folder): the target one when
    separate, else the shared one."""
    from transformers import AutoTokenizer

    folder = Path(folder)
    # A model folder holds the shared tokenizer itself; a tokenized-data folder holds it under tokenizer/.
    found = next((path for path in (folder / TARGET_DIR, folder / "tokenizer") if path.is_dir()), folder)
    return AutoTokenizer.from_pretrained(str(found))

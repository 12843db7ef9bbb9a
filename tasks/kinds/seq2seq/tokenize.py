"""tokenize for seq2seq: one shared or two (source, target) fast tokenizers, BPE or Unigram, or a pretrained one; the
sources as the model reads them (model.input_prefix) and the tokenizers as every reader loads them (language codes)."""

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
        return load_tokenizer(pretrained, params.model.trust_remote_code), None
    train = splits["train"]
    if params.tokenize.shared:
        return train_subwords(train["source"].tolist() + train["target"].tolist(), params), None
    return train_subwords(train["source"].tolist(), params), train_subwords(train["target"].tolist(), params)


def tokenize_pairs(splits: dict[str, pd.DataFrame], params: Params, pretrained: str | None, out: Path) -> None:
    """Token ids of both sides per split, unpadded; the tokenizers saved beside them."""
    from tasks.kinds.seq2seq.languages import set_languages

    source_tok, target_tok = build_tokenizers(splits, params, pretrained)
    set_languages(source_tok, params)  # mBART-50's target codes too: its labels come from source_tok(text_target=)
    source_tok.save_pretrained(str(out / "tokenizer"))
    if target_tok is not None:
        target_tok.save_pretrained(str(out / TARGET_DIR))
    settings = params.tokenize
    for name, frame in splits.items():
        inputs = source_tok(prefix_sources(frame["source"].tolist(), params), truncation=True,
                            max_length=settings.max_length)["input_ids"]
        if target_tok is None:
            labels = source_tok(text_target=frame["target"].tolist(), truncation=True,
                                max_length=settings.max_target_length)["input_ids"]
            if params.model.pretrained_encoder and source_tok.cls_token_id is not None:
                # A warm-started decoder starts from [CLS] (its decoder_start_token_id): a label [CLS] would repeat it.
                labels = [row[1:] if row[:1] == [source_tok.cls_token_id] else row for row in labels]
        else:
            labels = target_tok(frame["target"].tolist(), truncation=True, max_length=settings.max_target_length)["input_ids"]
        pd.DataFrame({"input_ids": inputs, "labels": labels}).to_parquet(out / f"{name}.parquet")


def prefix_sources(sources: list[str], params: Params) -> list[str]:
    """The sources as the model reads them: model.input_prefix (T5's "summarize: ") before each, as written. The one
    place it is added: tokenize, and translate_batches for evaluate, predict, serve, export parity and promotion."""
    prefix = params.model.input_prefix
    return [prefix + text for text in sources] if prefix else list(sources)


def load_pair_tokenizers(folder: str | Path, params: Params):
    """(source tokenizer, with the language codes of params.model set, target tokenizer that decodes) of a model or
    export folder: what every reader of a trained model uses."""
    from tasks.training.loading import load_trained_tokenizer

    from tasks.kinds.seq2seq.languages import set_languages

    return set_languages(load_trained_tokenizer(folder), params), target_tokenizer(folder)


def target_tokenizer(folder: str | Path):
    """The tokenizer that decodes the model's output (in a model or a tokenized-data folder): the target one when
    separate, else the shared one."""
    from tasks.training.loading import load_trained_tokenizer

    folder = Path(folder)
    # A model folder holds the shared tokenizer itself; a tokenized-data folder holds it under tokenizer/.
    found = next((path for path in (folder / TARGET_DIR, folder / "tokenizer") if path.is_dir()), folder)
    return load_trained_tokenizer(found)

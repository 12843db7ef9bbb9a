"""A decoder's tokenizer trained on the data: byte-level, so any text encodes, with an end-of-text and a pad token."""

from __future__ import annotations

from tasks.core.config import TokenizeParams

EOS, PAD, UNK = "<|endoftext|>", "<pad>", "<unk>"
LONG_TEXT = 1_000_000  # a trained tokenizer's model_max_length: none that truncation or its warning should apply


def train_byte_tokenizer(texts: list[str], settings: TokenizeParams, extra: tuple[str, ...] = ()):
    """A byte-level BPE or Unigram tokenizer learnt from texts: every byte is in the alphabet, so nothing is unknown.
    `extra`: special tokens beside EOS and the pad (a chat template's markers), each kept whole."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    if settings.algorithm == "unigram":
        core = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(vocab_size=settings.vocab_size, special_tokens=[EOS, PAD, UNK, *extra],
                                          unk_token=UNK, initial_alphabet=alphabet, show_progress=False)
    else:
        core = Tokenizer(models.BPE())
        trainer = trainers.BpeTrainer(vocab_size=settings.vocab_size, min_frequency=settings.min_frequency,
                                      special_tokens=[EOS, PAD, *extra], initial_alphabet=alphabet, show_progress=False)
    core.normalizer = normalizers.Sequence([normalizers.NFKC()] + ([normalizers.Lowercase()] if settings.lowercase else []))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.train_from_iterator(texts, trainer)
    # A pad token of its own: padding with EOS would make a collator that masks pads hide every end of text.
    unknown = {"unk_token": UNK} if settings.algorithm == "unigram" else {}
    # No length limit: whole texts are encoded and then packed; the model's positions bound what it reads.
    return PreTrainedTokenizerFast(tokenizer_object=core, model_max_length=LONG_TEXT, bos_token=EOS,
                                   eos_token=EOS, pad_token=PAD, **unknown)

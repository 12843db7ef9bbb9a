"""Tokenizers every kind uses: loading a local pretrained one with a one-sentence error, training a BERT-style
WordPiece one, and copying a kind's extra tokenizers."""

from __future__ import annotations

from pathlib import Path

from tasks.core.errors import LmforgeError

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # a trained WordPiece tokenizer's, BERT's
# How transformers 5 loaded a tokenizer, which its save_pretrained writes into tokenizer_config.json: local_files_only
# is true where HF_HUB_OFFLINE is set. A model rebuilt on a machine online must write the bytes an offline one wrote.
LOADING_KWARGS = ("is_local", "local_files_only")


def read_tokenizer(folder: str | Path, trust_remote_code: bool = False):
    """AutoTokenizer.from_pretrained, less what it records of how it was loaded (LOADING_KWARGS)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=trust_remote_code)
    for key in LOADING_KWARGS:
        tokenizer.init_kwargs.pop(key, None)
    return tokenizer


def load_tokenizer(path: str, trust_remote_code: bool = False):
    """A pretrained checkpoint's tokenizer; `trust_remote_code` as the params say (its config may need the code)."""
    try:
        return read_tokenizer(path, trust_remote_code)
    except (OSError, ValueError) as error:
        raise LmforgeError(f"{path}: holds no loadable tokenizer ({str(error).splitlines()[0][:120]}); "
                           "set tokenize.pretrained to a folder with tokenizer.json, or null to train one.") from None


def copy_tokenizers(source: str | Path, target: str | Path) -> None:
    """Copy a kind's extra tokenizers (folders named *_tokenizer, such as seq2seq's target_tokenizer) between a
    tokenized-data, model and export folder; the main tokenizer is saved by whoever saves the model."""
    import shutil

    for folder in Path(source).glob("*_tokenizer"):
        if folder.is_dir():
            shutil.copytree(folder, Path(target) / folder.name, dirs_exist_ok=True)


def list_alphabet(core, texts: list[str]) -> list[str]:
    """The pieces the WordPiece trainer starts from: each character, then each `##c`, in code-point order. The
    trainer makes the `##c` ones while walking a hash map, so their ids (and so the merges that tie on count, broken
    by id) change from process to process (upstream tokenizers#1794); handing all of them over first, as special
    tokens in this order, gives the same ids, merges and tokenizer.json from the same texts in every process."""
    firsts: set[str] = set()
    rests: set[str] = set()
    for text in texts:
        for word, _ in core.pre_tokenizer.pre_tokenize_str(core.normalizer.normalize_str(text)):
            firsts.add(word[0])
            rests.update(word[1:])
    return sorted(firsts | rests) + [f"##{char}" for char in sorted(rests)]


def drop_added_tokens(core, contents: set[str]):
    """The tokenizer without the given added tokens (they stay in the WordPiece vocabulary as ordinary pieces)."""
    import json

    from tokenizers import Tokenizer

    state = json.loads(core.to_str())
    state["added_tokens"] = [token for token in state["added_tokens"] if token["content"] not in contents]
    return Tokenizer.from_str(json.dumps(state))


def train_wordpiece(texts: list[str], params, segment_ids: bool = False):
    """A BERT-style WordPiece tokenizer learnt from the training texts (classification, qa). `segment_ids`: it gives
    token_type_ids too, which transformers 5 leaves out of a tokenizer built this way; a qa model tells question from
    context by them, not only by the [SEP] between them."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    settings = params.tokenize
    core = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    core.normalizer = normalizers.BertNormalizer(lowercase=settings.lowercase)
    core.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    core.decoder = decoders.WordPiece()
    pieces = list_alphabet(core, texts)
    trainer = trainers.WordPieceTrainer(vocab_size=settings.vocab_size, min_frequency=settings.min_frequency,
                                        special_tokens=SPECIAL_TOKENS + pieces, show_progress=False)
    core.train_from_iterator(texts, trainer)
    core = drop_added_tokens(core, set(pieces))
    cls, sep = core.token_to_id("[CLS]"), core.token_to_id("[SEP]")
    core.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    inputs = {"model_input_names": ["input_ids", "token_type_ids", "attention_mask"]} if segment_ids else {}
    return PreTrainedTokenizerFast(tokenizer_object=core, model_max_length=settings.max_length, unk_token="[UNK]",
                                   pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]", **inputs)

"""Tiny random-weight checkpoints of the Hub's common architecture families, built by the tests themselves, and laid
out as the Hub's own cache so that `ORG/NAME` resolves through huggingface_hub offline exactly as a downloaded model.

Each checkpoint is what a user downloads, shrunk: a config of the family (2 layers, width 32-64), random weights saved
as safetensors by the family's pretraining class, and a tokenizer of the family's style (WordPiece with [CLS]/[SEP],
byte-level BPE with <s></s> or none, SentencePiece-style Unigram or BPE) trained with `tokenizers` on a few hundred
lines of lmforge's built-in datasets, with the family's quirks kept: GPT-2, Llama and the other decoders have no pad
token, T5 and Marian start decoding with the pad token, BART and mBART with </s>, mBART-50's own tokenizer class puts a
language code first on each side (src_lang, tgt_lang), BERT and ELECTRA give token type ids and DistilBERT does not.

    folder = build_checkpoint("llama", tmp / "llama")
    sha = install_in_hub_cache(folder, hf_home, "lmforge-tests/tiny-llama")
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path


@dataclass(frozen=True)
class Family:
    model_type: str
    style: str  # the tokenizer: wordpiece, roberta, cls_bpe, xlmr, t5, marian, mbart, gpt2, llama
    role: str  # encoder, seq2seq or decoder: which pretraining class saves the weights
    config: dict = field(default_factory=dict)
    segment_ids: bool = False  # the tokenizer gives token_type_ids


SMALL = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
         "max_position_embeddings": 512}
SEQ2SEQ = {"d_model": 32, "encoder_layers": 2, "decoder_layers": 2, "encoder_attention_heads": 2,
           "decoder_attention_heads": 2, "encoder_ffn_dim": 64, "decoder_ffn_dim": 64, "max_position_embeddings": 256}
DECODER = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64,
           "max_position_embeddings": 512}

FAMILIES = {
    "bert": Family("bert", "wordpiece", "encoder", SMALL, segment_ids=True),
    "distilbert": Family("distilbert", "wordpiece", "encoder", {"dim": 32, "n_layers": 2, "n_heads": 2, "hidden_dim": 64,
                                                               "max_position_embeddings": 512}),
    "electra": Family("electra", "wordpiece", "encoder", SMALL | {"embedding_size": 32}, segment_ids=True),
    "roberta": Family("roberta", "roberta", "encoder", SMALL | {"max_position_embeddings": 514}),
    "xlm-roberta": Family("xlm-roberta", "xlmr", "encoder", SMALL | {"max_position_embeddings": 514}),
    "deberta-v2": Family("deberta-v2", "xlmr_cls", "encoder", SMALL | {"relative_attention": True,
                                                                     "position_buckets": 32, "max_relative_positions": -1,
                                                                     "pos_att_type": ["p2c", "c2p"]},
                         segment_ids=True),
    "modernbert": Family("modernbert", "cls_bpe", "encoder", SMALL | {"global_attn_every_n_layers": 2,
                                                                    "local_attention": 16}),
    "t5": Family("t5", "t5", "seq2seq", {"d_model": 32, "d_ff": 64, "d_kv": 16, "num_layers": 2, "num_decoder_layers": 2,
                                          "num_heads": 2, "relative_attention_num_buckets": 8}),
    "bart": Family("bart", "roberta", "seq2seq", SEQ2SEQ),
    "marian": Family("marian", "marian", "seq2seq", SEQ2SEQ),
    "mbart": Family("mbart", "mbart", "seq2seq", SEQ2SEQ),
    "gpt2": Family("gpt2", "gpt2", "decoder", {"n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 512}),
    "llama": Family("llama", "llama", "decoder", DECODER | {"num_key_value_heads": 2}),
    "qwen2": Family("qwen2", "gpt2", "decoder", DECODER | {"num_key_value_heads": 2}),
    "mistral": Family("mistral", "llama", "decoder", DECODER | {"num_key_value_heads": 2, "sliding_window": None}),
    "phi": Family("phi", "gpt2", "decoder", DECODER),
    "gpt_neox": Family("gpt_neox", "gpt2", "decoder", DECODER),
}
ENCODERS = [name for name, family in FAMILIES.items() if family.role == "encoder"]
SEQ2SEQS = [name for name, family in FAMILIES.items() if family.role == "seq2seq"]
DECODERS = [name for name, family in FAMILIES.items() if family.role == "decoder"]
LANGUAGE_CODES = ["en_XX", "de_DE"]  # mBART-50's (MBart50Tokenizer adds all 52; these two are trained pieces)


@cache
def training_lines() -> tuple[str, ...]:
    """A few hundred lines of each built-in dataset, so that the tokenizers know the words the tests feed them."""
    from tasks.kinds import get_kind

    lines: list[str] = []
    for task, source in (("classification", "builtin:reviews"), ("seq2seq", "builtin:numbers"),
                         ("seq2seq", "builtin:reports"), ("qa", "builtin:facts"), ("causal_lm", "builtin:stories")):
        frame = get_kind(task).make_builtin(source, 300, 3)
        for column in frame.columns:
            lines += [str(value) for value in frame[column].tolist() if isinstance(value, str)]
    return tuple(lines)


def train_core(style: str, specials: list[str], vocab_size: int = 600):
    """A `tokenizers` Tokenizer of the family's style, trained on training_lines()."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    from tasks.training.tokenizer_io import drop_added_tokens, list_alphabet

    lines = training_lines()  # built once: the trainer, the alphabet and the Unigram scores read the same lines
    if style == "wordpiece":
        core = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        core.normalizer = normalizers.BertNormalizer(lowercase=True)
        core.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        core.decoder = decoders.WordPiece()
        # The product's alphabet first (tasks/training/tokenizer_io.py says why): the same ids in every process, so
        # that a test's tiny model trains the same way whichever process builds its checkpoint.
        pieces = list_alphabet(core, list(lines))
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials + pieces, show_progress=False)
    elif style in ("roberta", "gpt2", "cls_bpe"):
        core = Tokenizer(models.BPE())
        core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        core.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    elif style == "llama":
        core = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
        core.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first")
        core.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace(prepend_scheme="first")])
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False)
    else:  # SentencePiece-style Unigram: t5, marian, mbart, xlmr, xlmr_cls
        core = Tokenizer(models.Unigram())
        core.pre_tokenizer = pre_tokenizers.Metaspace()
        core.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials, unk_token=specials[
            specials.index("<unk>") if "<unk>" in specials else specials.index("[UNK]")], show_progress=False)
    core.train_from_iterator(lines, trainer)
    if style == "wordpiece":
        return drop_added_tokens(core, set(pieces))
    return settle_unigram(core, len(specials), lines) if isinstance(core.model, models.Unigram) else core


def settle_unigram(core, specials: int, lines: tuple[str, ...]):
    """tokenizers' Unigram trainer ends with sums in thread order: the same pieces in every process, but scores that
    differ in the fourth decimal and so another order (and another tiny model). Scores from each piece's count in the
    training lines, in one order after the special tokens, make it the same tokenizer in every process."""
    import json
    import math

    from tokenizers import Tokenizer

    state = json.loads(core.to_str())
    text = " " + " ".join(lines)  # Metaspace's "▁" is the space before a word
    pieces = [piece for piece, _ in state["model"]["vocab"][specials:]]
    counts = {piece: text.count(piece.replace("\u2581", " ")) for piece in pieces}
    total = sum(counts.values()) + len(pieces)
    scored = sorted(((piece, round(math.log((counts[piece] + 1) / total), 6)) for piece in pieces),
                    key=lambda pair: (-pair[1], pair[0]))
    state["model"]["vocab"] = state["model"]["vocab"][:specials] + [list(pair) for pair in scored]
    return Tokenizer.from_str(json.dumps(state))


# The family's special tokens (in id order), the post-processor template and the tokens the tokenizer names.
STYLES = {
    "wordpiece": (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], ("[CLS] $A [SEP]", "[CLS] $A [SEP] $B:1 [SEP]:1"),
                  {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]",
                   "mask_token": "[MASK]"}),
    "xlmr_cls": (["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"], ("[CLS] $A [SEP]", "[CLS] $A [SEP] $B:1 [SEP]:1"),
                 {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]",
                  "mask_token": "[MASK]"}),
    "cls_bpe": (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], ("[CLS] $A [SEP]", "[CLS] $A [SEP] $B [SEP]"),
                {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]",
                 "mask_token": "[MASK]"}),
    "roberta": (["<s>", "<pad>", "</s>", "<unk>", "<mask>"], None,
                {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>",
                 "cls_token": "<s>", "sep_token": "</s>", "mask_token": "<mask>"}),
    "xlmr": (["<s>", "<pad>", "</s>", "<unk>", "<mask>"], ("<s> $A </s>", "<s> $A </s> </s> $B </s>"),
             {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>", "cls_token": "<s>",
              "sep_token": "</s>", "mask_token": "<mask>"}),
    "t5": (["<pad>", "</s>", "<unk>"], ("$A </s>", "$A </s> $B </s>"),
           {"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}),
    "marian": (["</s>", "<unk>", "<pad>"], ("$A </s>", "$A $B </s>"),
               {"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}),
    "mbart": (["<s>", "<pad>", "</s>", "<unk>", *LANGUAGE_CODES], None, {}),  # MBart50Tokenizer sets its own
    "gpt2": (["<|endoftext|>"], None, {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                                       "unk_token": "<|endoftext|>"}),
    "llama": (["<unk>", "<s>", "</s>"], ("<s> $A", "<s> $A <s> $B"),
              {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}),
}


def build_tokenizer(family: Family):
    """The family's tokenizer as transformers loads it (PreTrainedTokenizerFast over the trained core)."""
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    specials, template, named = STYLES[family.style]
    core = train_core(family.style, specials)
    if family.style == "mbart":
        return build_mbart50(core)
    if family.style == "marian":
        return build_marian()
    if family.style == "roberta":
        core.post_processor = processors.RobertaProcessing(("</s>", core.token_to_id("</s>")),
                                                           ("<s>", core.token_to_id("<s>")), trim_offsets=True,
                                                           add_prefix_space=False)
    elif template:
        single, pair = template
        tokens = sorted({word.split(":")[0] for word in (single + " " + pair).split() if not word.startswith("$")})
        core.post_processor = processors.TemplateProcessing(single=single, pair=pair,
                                                            special_tokens=[(t, core.token_to_id(t)) for t in tokens])
    inputs = ["input_ids", "token_type_ids", "attention_mask"] if family.segment_ids else ["input_ids", "attention_mask"]
    return PreTrainedTokenizerFast(tokenizer_object=core, model_max_length=512, model_input_names=inputs, **named)


def build_mbart50(core):
    """transformers' MBart50Tokenizer over the trained pieces, as mBART-50 checkpoints ship theirs: "en_XX text </s>"
    for a source, the target's code first for a target (src_lang, tgt_lang: en_XX and none saved; a user names
    both)."""
    import json

    from transformers import MBart50Tokenizer

    vocab = [tuple(piece) for piece in json.loads(core.to_str())["model"]["vocab"]]  # holds en_XX, de_DE: kept as is
    return MBart50Tokenizer(vocab=vocab, model_max_length=512)


def build_marian():
    """transformers' MarianTokenizer as opus-mt checkpoints ship it: SentencePiece models (source.spm, target.spm) and
    a vocab.json, no tokenizer.json; </s> is id 0 and <pad> the last id, which starts decoding."""
    import json
    import tempfile

    import sentencepiece
    from transformers import MarianTokenizer

    folder = Path(tempfile.mkdtemp(prefix="lmforge-marian-"))
    (folder / "lines.txt").write_text("\n".join(training_lines()), encoding="utf-8")
    sentencepiece.SentencePieceTrainer.train(
        input=str(folder / "lines.txt"), model_prefix=str(folder / "spm"), vocab_size=500, eos_id=0, unk_id=1,
        bos_id=-1, pad_id=-1, num_threads=1, minloglevel=2)
    pieces = sentencepiece.SentencePieceProcessor(model_file=str(folder / "spm.model"))
    vocab = {pieces.id_to_piece(i): i for i in range(pieces.get_piece_size())} | {"<pad>": pieces.get_piece_size()}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    for side in ("source", "target"):
        shutil.copy(folder / "spm.model", folder / f"{side}.spm")
    return MarianTokenizer(source_spm=str(folder / "source.spm"), target_spm=str(folder / "target.spm"),
                           vocab=str(folder / "vocab.json"), model_max_length=512)


def build_model(family: Family, tokenizer, seed: int):
    """Random weights of the family's pretraining class, sized to the tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM, AutoModelForSeq2SeqLM

    # The config's special ids are the tokenizer's (ModernBERT's config defaults name ids of its own 50k vocabulary).
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in
           (("pad_token_id", tokenizer.pad_token), ("bos_token_id", tokenizer.bos_token or tokenizer.cls_token),
            ("eos_token_id", tokenizer.eos_token or tokenizer.sep_token)) if token is not None}
    if family.model_type == "modernbert":
        ids |= {"cls_token_id": tokenizer.cls_token_id, "sep_token_id": tokenizer.sep_token_id}
    if family.role == "seq2seq":
        # Where each family starts decoding: T5 and Marian with the pad token, BART and mBART with </s>.
        start = ids["pad_token_id"] if family.model_type in ("t5", "marian") else ids["eos_token_id"]
        ids |= {"decoder_start_token_id": start, "forced_eos_token_id": ids["eos_token_id"]}
        if family.model_type == "t5":
            ids.pop("forced_eos_token_id")
    config = AutoConfig.for_model(family.model_type, vocab_size=len(tokenizer), **family.config, **ids)
    if family.model_type == "marian":
        config.decoder_vocab_size = len(tokenizer)
    torch.manual_seed(seed)
    auto = {"encoder": AutoModelForMaskedLM, "seq2seq": AutoModelForSeq2SeqLM, "decoder": AutoModelForCausalLM}
    return auto[family.role].from_config(config)


def build_checkpoint(name: str, folder: Path, seed: int = 0) -> Path:
    """A tiny checkpoint of family `name` written into `folder` by save_pretrained (safetensors weights)."""
    family = FAMILIES[name]
    tokenizer = build_tokenizer(family)
    model = build_model(family, tokenizer, seed)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder), safe_serialization=True)
    tokenizer.save_pretrained(str(folder))
    return folder


def cached_checkpoint(name: str, root: Path) -> Path:
    """build_checkpoint once per `root` (a session's scratch folder): tests copy it rather than build it again."""
    folder = root / name
    if not (folder / "config.json").is_file():
        shutil.rmtree(folder, ignore_errors=True)
        build_checkpoint(name, folder)
    return folder


def commit_sha(folder: Path, salt: str = "") -> str:
    """A 40-hex commit id for a snapshot: the digest of its files (and a salt, for a second commit of them)."""
    digest = hashlib.sha1(salt.encode())
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(folder).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


def install_in_hub_cache(folder: Path, hf_home: Path, repo_id: str, revision: str = "main", sha: str | None = None,
                         repo_type: str = "model") -> str:
    """Lay `folder` out as huggingface_hub's cache does (HF_HOME/hub/models--ORG--NAME/ with blobs/, snapshots/SHA/
    linking to them and refs/REVISION); returns the commit sha. Installing another folder under the same revision
    moves the ref, as a new commit on the Hub does once downloaded."""
    sha = sha or commit_sha(folder, repo_id)
    repo = hf_home / "hub" / f"{repo_type}s--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / sha
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        blob = repo / "blobs" / hashlib.sha256(path.read_bytes()).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        if not blob.exists():
            shutil.copyfile(path, blob)
        link = snapshot / path.relative_to(folder)
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(Path("../" * len(link.relative_to(repo / "snapshots").parts[1:]) + "../blobs") / blob.name)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    if not revision.startswith(sha[:7]):
        (repo / "refs" / revision).parent.mkdir(parents=True, exist_ok=True)
        (repo / "refs" / revision).write_text(sha)
    return sha

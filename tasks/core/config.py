"""The one configuration: `params.yaml`, typed and checked when it is loaded."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, ValidationInfo, field_validator, model_validator

from tasks.core.backend_names import BACKENDS
from tasks.core.errors import LmforgeError

BUILTIN_SOURCE = "builtin:reviews"
BUILTIN_PAIRS = "builtin:numbers"
# The generated datasets, and the task each is for (tasks/ingest.py has their generators).
BUILTIN_TASKS = {BUILTIN_SOURCE: "classification", BUILTIN_PAIRS: "seq2seq", "builtin:reports": "seq2seq",
                 "builtin:facts": "qa", "builtin:stories": "causal_lm", "builtin:instructions": "chat"}
# The metrics evaluate reports for every dataset, per task (per-class ones come on top for classification); each one
# can be promote.primary_metric, guarded or floored. Those in LOWER_IS_BETTER improve downwards (a floor is a ceiling).
TASK_METRICS = {"classification": ("accuracy", "precision_macro", "recall_macro", "f1_macro"),
                "seq2seq": ("bleu", "chrf", "rouge1", "rouge2", "rougeL"),
                "qa": ("exact_match", "f1"),
                "causal_lm": ("word_perplexity", "bits_per_char", "perplexity", "loss"),
                "chat": ("exact_match", "rougeL", "chrf")}
LOWER_IS_BETTER = frozenset({"word_perplexity", "bits_per_char", "perplexity", "loss"})
# What run summaries show of evaluate's metrics, whichever kind: the promotable ones and a few to read them by.
SHOWN_METRICS = tuple(dict.fromkeys(f"eval_{name}" for names in TASK_METRICS.values() for name in names
                                    if name != "loss")) + ("eval_meteor", "eval_unigram_perplexity", "eval_top_output_share")
# Per task: the tokenizers it may train, the train.select_by values it knows, the significance tests that fit it.
TASK_TOKENIZERS = {"classification": ("wordpiece",), "seq2seq": ("bpe", "unigram"), "qa": ("wordpiece",),
                   "causal_lm": ("bpe", "unigram"), "chat": ("bpe", "unigram")}
TASK_SELECT_BY = {"classification": ("auto", "loss"), "seq2seq": ("auto", "loss", "bleu"), "qa": ("auto", "loss"),
                  "causal_lm": ("auto", "loss"), "chat": ("auto", "loss")}
TASK_SIGNIFICANCE = {"classification": ("bootstrap", "mcnemar", "none"), "seq2seq": ("bootstrap", "none"),
                     "qa": ("bootstrap", "mcnemar", "none"), "causal_lm": ("bootstrap", "none"),
                     "chat": ("bootstrap", "mcnemar", "none")}
# The validation checks per task (tasks/data/checks.py) and what each may do when rows break it: fail, warn or drop them.
CHECKS = {
    "classification": {"columns": "f", "nulls": "fwd", "blank": "fwd", "text_length": "fwd", "label_set": "fwd",
                       "class_rows": "fw", "duplicates": "fwd", "leakage": "fwd"},
    "seq2seq": {"columns": "f", "nulls": "fwd", "blank": "fwd", "source_length": "fwd", "target_length": "fwd",
                "length_ratio": "fwd", "identical_share": "fw", "duplicates": "fwd", "leakage": "fwd"},
    "qa": {"columns": "f", "nulls": "fwd", "blank": "fwd", "context_length": "fwd", "answer_in_context": "fwd",
           "duplicates": "fwd", "leakage": "fwd"},
    "causal_lm": {"columns": "f", "nulls": "fwd", "blank": "fwd", "text_length": "fwd", "duplicates": "fwd",
                  "leakage": "fwd"},
    "chat": {"columns": "f", "nulls": "fwd", "conversation": "fwd", "text_length": "fwd", "tokens": "fwd",
             "duplicates": "fwd", "leakage": "fwd"},
}
# Each kind's canonical dataset columns (ingest renames the source's to these).
TASK_COLUMNS = {"classification": ("text", "label"), "seq2seq": ("source", "target"),
                "qa": ("question", "context", "answer"), "causal_lm": ("text",),
                "chat": ("messages",)}
POLICY_LETTERS = {"fail": "f", "warn": "w", "drop": "d"}
# train keys left out of cache keys and lineage hashes: a model trained in 2 processes (the same global batch) or
# with 4 threads is the model 1 process with 2 threads trains, so it is reused and its checkpoints resumed.
HOW_NOT_WHAT = ("distributed", "threads")


class Section(BaseModel):
    # An unknown key is a typo more often than a wish: refuse it with its name.
    model_config = ConfigDict(extra="forbid")


class ProjectParams(Section):
    seed: int = Field(13, description="Seed for splits, sampling, initialisation and data order.")


class SampleParams(Section):
    rows: int = Field(4000, ge=30, description="Rows the builtin generator makes.")
    seed: int = Field(13, description="Seed of the builtin generator.")


class SplitParams(Section):
    """Each split is a file of the source folder (its name), a split of a Hub dataset (its name there), or a share
    carved from the training rows (a number)."""

    train: str | None = Field(None, description="File of the training rows (a Hub dataset: its split name); default "
                                                "the file named train.* (the Hub split train).")
    validation: float | str = Field(0.1, description="A share of the training rows (the train file's, or the whole "
                                                     "source's when no file is named) to carve off, or a file name "
                                                     "(e.g. val.jsonl; a Hub dataset: its split name, e.g. validation). "
                                                     "Carves keep groups together (data.group_column).")
    test: float | str = Field(0.15, description="A share of the training rows to carve off, as validation, or a file "
                                                "name (e.g. dev.csv; a Hub dataset: its split name, e.g. test).")
    from_end: list[Literal["validation", "test"]] = Field(
        [], description="Splits carved from the end of the training rows in source order (a time-ordered source's "
                        "newest rows, a corpus' last part) instead of at random, e.g. [test].")

    @field_validator("validation", "test")
    @classmethod
    def check_share(cls, value: float | str) -> float | str:
        if isinstance(value, float) and not 0 < value < 0.5:
            raise ValueError(f"a share must lie between 0 and 0.5, not {value}; or name a file")
        return value

    def named_files(self) -> dict[str, str]:
        """Split: file name, for the splits that name a file."""
        return {name: value for name, value in self.model_dump().items() if isinstance(value, str)}


class DataParams(Section):
    source: str = Field(BUILTIN_SOURCE, description="A CSV/JSONL/Parquet/.txt file, a folder of them, a Hub dataset "
                                                    "(hf://datasets/ORG/NAME[@REVISION]: data.splits name its splits), "
                                                    "a URL (https://, http://; s3:// and gs:// with s3fs or gcsfs "
                                                    "installed; a folder URL ends in /), or a built-in dataset: "
                                                    "builtin:reviews (classification), builtin:numbers or "
                                                    "builtin:reports (seq2seq), builtin:facts (qa), builtin:stories "
                                                    "(causal_lm), builtin:instructions (chat). Default: the task "
                                                    "kind's built-in dataset. A remote source is fetched into data/<name>/source/ (LMFORGE_DATA_MIRROR: "
                                                    "a local mirror of it).")
    sha256: str | dict[str, str] | None = Field(
        None, description="A URL source's SHA-256 (64 hex digits), checked before anything is read; a folder URL's: "
                          "file name -> SHA-256 for each file data.splits names. null: not checked (the digest "
                          "fetched is recorded), and the URL is fetched again each run.")
    config: str | None = Field(None, description="hf:// sources: the Hub dataset's config (subset), e.g. plain_text; "
                                                 "null: its default one.")
    max_rows: int | None = Field(None, ge=1, description="Only the first N rows of each split the source gives, in "
                                                         "its order (a fixed part of a large public split); null: all.")
    format: Literal["auto", "csv", "jsonl", "parquet", "text"] = Field(
        "auto", description="auto: by suffix (.csv/.tsv, .jsonl/.json, .parquet, .txt: text for causal_lm).")
    text_column: str = Field("text", description="classification: the text to classify; causal_lm: the text to model.")
    label_column: str = Field("label", description="classification: each row's class.")
    source_column: str = Field("source", description="seq2seq: the input side of each pair.")
    target_column: str = Field("target", description="seq2seq: the output side of each pair.")
    context_column: str = Field("context", description="qa: the passage the answer is taken from.")
    question_column: str = Field("question", description="qa: the question asked of the context.")
    answer_column: str = Field("answer", description="qa: the answer's text, as it stands in the context.")
    messages_column: str = Field("messages", description="chat: each conversation, a list of {role, content} turns "
                                                         "(roles system, user, assistant: OpenAI's format) or its "
                                                         "JSON text; unused when data.prompt_column is set.")
    prompt_column: str | None = Field(None, description="chat: one prompt per row (e.g. Alpaca's instruction), "
                                                        "answered by data.response_column; null: data.messages_column.")
    response_column: str | None = Field(None, description="chat: the answer to data.prompt_column (e.g. output).")
    system_column: str | None = Field(None, description="chat: a system prompt per row, beside data.prompt_column.")
    prompt_template: str | None = Field(None, description="chat: the user's turn made of data.prompt_column's text, "
                                                          "written where {prompt} stands (e.g. 'what does this "
                                                          "question ask for? {prompt}'); null: the text itself.")
    answer_start_column: str | None = Field(None, description="qa: the answer's character offset in the context; "
                                                              "null finds its first occurrence.")
    split_column: str | None = Field(None, description="Column naming each row's split; else files or a seeded split.")
    group_column: str | None = Field(None, description="Column of a group (document, user, article) whose rows stay in "
                                                       "one split when splits are carved, and which leakage checks "
                                                       "across train and test; qa groups by context when unset.")
    documents: Literal["auto", "file", "blank_line", "line"] = Field(
        "auto", description=".txt sources: how a text file is cut into rows: the whole file, paragraphs (blank lines "
                            "between them), lines, or auto: paragraphs where the file has blank lines, else lines. "
                            "Files of inputs to predict or score are read one per line unless this is set.")
    labels: list[str] | None = Field(None, description="The declared label set; rows outside it fail validation.")
    keep_columns: list[str] = Field([], description="Source columns kept in the dataset under their own names (e.g. "
                                                    "a site or language), for promote.slices to slice by.")
    splits: SplitParams = SplitParams()
    sample: SampleParams = SampleParams()

    @field_validator("source")
    @classmethod
    def check_source(cls, value: str) -> str:
        from tasks.hub.names import check_source

        return check_source(value)

    @field_validator("sha256", mode="before")
    @classmethod
    def check_digest_type(cls, value: object) -> object:
        if value is not None and not isinstance(value, (str, dict)):
            raise ValueError(f"{value!r} is no SHA-256 digest; write the 64 hex digits `sha256sum FILE` prints, in "
                             "quotes")
        return value

    @field_validator("sha256")
    @classmethod
    def check_digests(cls, value: str | dict[str, str] | None, info: ValidationInfo) -> str | dict[str, str] | None:
        """A URL's files only (a Hub dataset is pinned by @REVISION, a local file by DVC): one digest for a file, a
        mapping of file name to digest for a folder URL."""
        from tasks.hub.names import check_sha256, read_scheme

        source = str(info.data.get("source", ""))
        if value is not None and read_scheme(source) in ("", "hf"):
            raise ValueError("checks a URL source's files; a Hub dataset is pinned by @REVISION in data.source, a "
                             "local file by DVC: remove data.sha256")
        if isinstance(value, dict) != (value is not None and source.endswith("/")):
            raise ValueError("a folder URL (ending in /) takes a mapping of file name to digest, a single file one "
                             "digest")
        return check_sha256(value)

    @field_validator("config")
    @classmethod
    def check_config(cls, value: str | None, info: ValidationInfo) -> str | None:
        from tasks.hub.names import read_scheme

        if value is not None and read_scheme(str(info.data.get("source", ""))) != "hf":
            raise ValueError("names a Hub dataset's config; use it with data.source: hf://datasets/ORG/NAME, or "
                             "remove it")
        return value


class ValidateParams(Section):
    min_text_chars: int = Field(1, ge=1)
    max_text_chars: int = Field(2000, ge=1)
    min_rows_per_class: int = Field(10, ge=1)
    max_tokens: int | None = Field(None, ge=1, description="chat: the most tokens of a conversation as tokenize "
                                                            "encodes it (template included); null: tokenize.max_length.")
    check_leakage: bool = True
    min_target_chars: int = Field(1, ge=1, description="seq2seq: bounds on the target side (source: *_text_chars).")
    max_target_chars: int = Field(2000, ge=1)
    min_length_ratio: float = Field(0.1, gt=0, description="seq2seq: bounds on target length / source length.")
    max_length_ratio: float = Field(10.0, gt=0)
    max_identical_share: float | None = Field(None, ge=0, le=1, description="seq2seq: most pairs with source == target.")
    fail_examples: int = Field(3, ge=0, description="Example rows printed for each failed expectation.")
    policies: dict[str, Literal["fail", "warn", "drop"]] = Field(
        {}, description="Check name: fail (the default) stops the flow, warn records and goes on, drop removes the "
                        "offending rows (written to dropped.parquet) and goes on.")
    mostly: dict[str, float] = Field(
        {}, description="Check name: the share of rows that must pass (GX's mostly); for a drop check, the share "
                        "that must remain (default 0.95).")

    @field_validator("mostly")
    @classmethod
    def check_mostly(cls, value: dict[str, float]) -> dict[str, float]:
        for name, share in value.items():
            if not 0 <= share <= 1:
                raise ValueError(f"{name}: {share} is no share; use a number from 0 to 1")
        return value


def resolve_package(value: str | None) -> str | None:
    """`pkg:NAME` is the model folder a package declared in the entry-point group lmforge.models ships
    (tasks.core.model_packages: no other module is imported for it)."""
    from tasks.core.model_packages import resolve_package as resolve_declared

    return resolve_declared(value)


class TokenizeParams(Section):
    pretrained: str | None = Field(None, description="A Hub id (ORG/NAME[@REVISION]), a local tokenizer folder or "
                                                     "pkg:NAME; null trains one on the train split.")

    _resolve = field_validator("pretrained")(classmethod(lambda cls, value: resolve_package(value)))
    algorithm: Literal["wordpiece", "bpe", "unigram"] = Field(
        "wordpiece", description="What to train: wordpiece (classification), bpe or unigram (seq2seq).")
    shared: bool = Field(True, description="seq2seq: one tokenizer for both sides, else one per side.")
    vocab_size: int = Field(2000, ge=100)
    min_frequency: int = Field(2, ge=1)
    lowercase: bool = True
    max_length: int = Field(64, ge=8)
    max_target_length: int = Field(64, ge=8, description="seq2seq: target tokens kept for training.")
    stride: int = Field(32, ge=1, description="qa: tokens shared by consecutive windows of a long context.")
    block_size: int = Field(64, ge=8, description="causal_lm: tokens per training block (texts are packed).")
    chat_template: Literal["auto", "own", "chatml"] = Field(
        "auto", description="chat: the template conversations are rendered with: own (the tokenizer's; refused "
                            "when it has none), chatml (ChatML, <|im_start|>role ... <|im_end|>, its markers added as "
                            "tokens), auto (own when the tokenizer has one, else chatml).")


class FromScratchParams(Section):
    layers: int = Field(2, ge=1, description="Encoder layers (seq2seq: decoder too, unless decoder_layers).")
    decoder_layers: int | None = Field(None, ge=1)
    hidden_size: int = Field(128, ge=8)
    heads: int = Field(4, ge=1)
    intermediate_size: int = Field(256, ge=8)
    dropout: float = Field(0.1, ge=0, lt=1)

    @model_validator(mode="after")
    def check_heads(self) -> "FromScratchParams":
        if self.hidden_size % self.heads:
            raise ValueError(f"hidden_size {self.hidden_size} must be a multiple of heads {self.heads}")
        return self


def check_checkpoint(value: str | None) -> str | None:
    """A local Hugging Face checkpoint (pkg:NAME resolved) with safetensors weights, a Hub id (ORG/NAME[@REVISION],
    resolved when a run starts, not here: loading params never touches the network), or None."""
    from tasks.hub.models import parse_hub_id

    value = resolve_package(value)
    if value is None or parse_hub_id(value) is not None:
        return value
    if not (Path(value) / "config.json").is_file():
        what = "does not exist" if not Path(value).exists() else "holds no config.json"
        raise ValueError(f"{value!r} {what}; point it at a folder written by save_pretrained, name a Hub model as "
                         "ORG/NAME or ORG/NAME@REVISION, or set it to null")
    if not any(Path(value).glob("*.safetensors")):
        # Pickled weights (pytorch_model.bin) can run code when loaded; safetensors cannot.
        raise ValueError(f"{value!r} holds no .safetensors weights (pickled ones such as pytorch_model.bin are "
                         "refused: loading them can run code); convert them once, on a machine you trust, with "
                         "save_pretrained(folder, safe_serialization=True)")
    return value


class ModelParams(Section):
    pretrained: str | None = Field(None, description="A Hugging Face Hub model: ORG/NAME or ORG/NAME@REVISION (a branch, "
                                                     "tag or commit; pinned to its commit when a run starts), a local "
                                                     "checkpoint folder (save_pretrained), or pkg:NAME for a package "
                                                     "that ships one; null builds from_scratch.")
    trust_remote_code: bool = Field(
        False, description="Let a Hub model run its own Python code (its config's auto_map); only from the params "
                           "file, never --set, and recorded on the version. Read that code first.")
    pretrained_encoder: str | None = Field(
        None, description="seq2seq: a BERT-style checkpoint (Hub id, folder or pkg:NAME) that warm-starts an encoder-decoder "
                          "(transformers' EncoderDecoderModel); its tokenizer reads and writes both sides.")
    pretrained_decoder: str | None = Field(
        None, description="seq2seq with pretrained_encoder: the decoder's checkpoint (cross-attention is added); "
                          "null: the encoder's.")
    decoder_layers: int | None = Field(
        None, ge=1, description="seq2seq with pretrained_encoder: keep the decoder checkpoint's first N layers "
                                "(fewer: faster steps); null keeps them all.")
    input_prefix: str = Field(
        "", description="seq2seq: text put before every source wherever the model reads one (training, evaluation, "
                        "predict, serve, export checks, promotion), as written: e.g. \"summarize: \" for T5.")
    source_lang: str | None = Field(
        None, description="seq2seq with a checkpoint whose tokenizer marks languages (mBART-50): the sources' "
                          "language code, e.g. en_XX; other families take none.")
    target_lang: str | None = Field(
        None, description="seq2seq, as source_lang: the targets' code, e.g. de_DE; it starts every target and is "
                          "forced as the first generated token.")
    from_scratch: FromScratchParams = FromScratchParams()

    _checkpoints = field_validator("pretrained", "pretrained_encoder", "pretrained_decoder")(
        classmethod(lambda cls, value: check_checkpoint(value)))


class DistributedParams(Section):
    nproc: int = Field(1, ge=1, description="Data-parallel processes under torchrun (DDP); 1 trains in the step's process.")
    backend: Literal["auto", "gloo", "nccl"] = Field("auto", description="auto: nccl on GPUs, gloo on CPU.")


class LoraParams(Section):
    r: int = Field(8, ge=1, description="Rank of the low-rank update.")
    alpha: float = Field(16, gt=0, description="Scale of the update (alpha / r).")
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | None = Field(None, description="Module names to adapt; null: PEFT's default for the "
                                                               "architecture (GPT-2: c_attn).")
    merge: bool = Field(False, description="Merge the adapter into the base's weights and register the whole model; "
                                           "false registers the adapter alone, naming its base (Hub id at its commit, "
                                           "or folder and weights' SHA-256); exports are merged either way.")


class TrainParams(Section):
    epochs: float = Field(8, gt=0)
    max_steps: int = Field(-1, description="Stop after this many steps; -1 runs all epochs.")
    batch_size: int = Field(32, ge=1, description="Rows per optimizer step, whatever distributed.nproc and "
                                                   "accumulation_steps are: each process takes batch_size / (nproc x accumulation_steps).")
    accumulation_steps: int = Field(1, ge=1, description="Micro-batches whose gradients make one optimizer step.")
    precision: Literal["auto", "fp32", "bf16"] = Field("auto", description="auto: bf16 mixed precision on a GPU that "
                                                                             "has it, else fp32.")
    distributed: DistributedParams = DistributedParams()
    learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_steps: int = Field(50, ge=0)
    early_stopping_patience: int = Field(3, ge=0, description="Evaluations without improvement before stopping; 0 never stops.")
    threads: int = Field(0, ge=0, description="torch threads; 0 keeps torch's default.")
    resume: bool = Field(True, description="Resume from the last checkpoint of an interrupted run with the same inputs.")
    time_budget_s: float | None = Field(None, gt=0, description="Stop training (evaluated and saved) after this long.")
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    scheduler: Literal["linear", "cosine", "inverse_sqrt", "constant_with_warmup"] = "linear"
    freeze_embeddings: bool = Field(
        False, description="Keep a pretrained model's word embeddings fixed: faster steps; check accuracy on validation.")
    freeze_encoder: bool = Field(
        False, description="seq2seq with a pretrained or warm-started encoder: keep it fixed and train the decoder "
                           "(and its cross-attention) only; a step then skips the encoder's backward pass.")
    select_by: Literal["auto", "loss", "bleu"] = Field(
        "auto", description="Best epoch by: auto (macro F1, or seq2seq validation loss), loss, or bleu (seq2seq).")
    lora: LoraParams | None = Field(None, description="causal_lm, chat: LoRA fine-tuning with PEFT (only the adapter "
                                                      "trains): {r, alpha, dropout, target_modules, merge}; merge "
                                                      "false (the default) registers the adapter alone.")
    average_last: int = Field(
        0, ge=0, description="Average the weights of the last N evaluations (epochs) and keep the average when it "
                             "scores better on validation than the best epoch, by the select_by metric; 0 or 1: off.")


class EvaluateParams(Section):
    batch_size: int = Field(128, ge=1)
    num_beams: int = Field(4, ge=1, le=16, description="seq2seq generation: beam size (1 is greedy; at most 16, as the ONNX "
                           "export gives beam search the 32 best tokens of each row).")
    max_new_tokens: int = Field(64, ge=1)
    length_penalty: float = 1.0
    samples: int = Field(20, ge=0, description="seq2seq, qa, causal_lm: example rows kept as an artifact.")
    temperature: float = Field(1.0, gt=0, description="causal_lm: temperature of the sampled continuations.")
    top_k: int = Field(50, ge=1, description="causal_lm: sampled continuations draw from the top_k tokens.")
    max_answer_tokens: int = Field(30, ge=1, description="qa: the longest answer span considered.")


class RegistryParams(Section):
    tracking_uri: str = Field("sqlite:///mlruns/mlflow.db", description="MLFLOW_TRACKING_URI overrides it.")
    artifact_location: str = "mlruns/artifacts"
    experiment: str = "lmforge"
    model_name: str = Field("lmforge", description="Registered model; default lmforge-<name> for a params file other "
                                                    "than params.yaml (params.qa.yaml: lmforge-qa).")
    alias: str = Field("challenger", description="Alias of each newly registered version.")
    champion_alias: str = Field("champion", description="Alias of the version in production; only promote moves it.")


class SignificanceParams(Section):
    test: Literal["bootstrap", "mcnemar", "none"] = Field(
        "bootstrap", description="Paired check on the primary metric: bootstrap CI of the difference, or McNemar.")
    alpha: float = Field(0.05, gt=0, lt=0.5)
    resamples: int = Field(1000, ge=100, description="Bootstrap resamples of the test rows.")


class SliceRule(Section):
    """One way to cut the test rows for the per-slice gate."""

    by: Literal["class", "length", "column"] = Field(
        description="class: each reference label (classification); length: the input's words in buckets (the "
                    "source's for seq2seq, the question's for qa); column: each value of a dataset column.")
    column: str | None = Field(None, description="by: column: a canonical column (text, label, source ...) or one "
                                                 "of data.keep_columns.")
    edges: list[int] = Field([8, 16], description="by: length: bucket edges in words: [8, 16] gives <8, 8-15, >=16.")


class ServingCheckParams(Section):
    """Before @champion moves: the challenger in a real `lmforge serve` on a free 127.0.0.1 port, canned requests."""

    enabled: bool = Field(True, description="Run the serving check; a failed one rejects the challenger.")
    rows: int = Field(16, ge=1, description="Canned requests: the first test rows, one request each.")
    p95_ms: float = Field(1000.0, gt=0, description="The largest p95 latency of the canned requests allowed.")
    min_agreement: float = Field(0.9, ge=0, le=1, description="Share of canned answers that must equal the "
                                                              "challenger's own test outputs (evaluate's).")
    startup_s: float = Field(180.0, gt=0, description="How long the server may take to load the challenger.")


class PromoteParams(Section):
    primary_metric: str = Field("f1_macro", description="The metric a challenger must improve.")
    min_improvement: float = Field(0.0, ge=0, description="The challenger must beat the champion by more than this.")
    guarded: dict[str, float] = Field({"accuracy": 0.01}, description="Metric: the largest drop allowed.")
    floors: dict[str, float] = Field({}, description="Metric: the lowest value any champion may have (the highest, for "
                                                     "a lower-is-better metric); none by default.")
    beat_baseline: bool = Field(True, description="A challenger, the first model too, must beat its task kind's "
                                                  "trivial baseline on the same test rows by the primary metric (the "
                                                  "majority label; the source or its first sentence; the context's "
                                                  "first sentence; a unigram model); false turns the check off.")
    significance: SignificanceParams = SignificanceParams()
    serving_check: ServingCheckParams = ServingCheckParams()
    approval: Literal["auto", "required"] = Field(
        "auto", description="required: after the gate and the serving check pass, the flow pauses for a person to "
                            "approve or reject (`lmforge approve`) before @champion moves. Set in the params file, "
                            "no --set, deployment override or `lmforge promote` goes around it.")
    approval_separation: bool = Field(True, description="With approval required: the approver may not be the "
                                                        "identity that started the run.")
    approval_timeout_s: float = Field(3600.0, gt=0, description="A pause for approval that nobody answers within "
                                                                 "this rejects the challenger.")
    slices: list[SliceRule] = Field([], description="Per-slice gate: the challenger may not lose more than "
                                    "slice_tolerance of the primary metric on any slice with slice_min_rows rows.")
    slice_min_rows: int = Field(30, ge=1, description="Slices with fewer test rows are shown, not judged.")
    slice_tolerance: float = Field(0.02, ge=0, description="The largest loss of the primary metric allowed on a slice.")


class ExportParams(Section):
    enabled: bool = Field(True, description="Export each new champion in the flow (ONNX, int8, torch.export, with "
                                            "parity checks); false leaves it to `lmforge export VERSION`.")


class ScheduleParams(Section):
    name: str = Field("lmforge-schedule", description="Name of the Prefect deployment `lmforge schedule` serves; "
                                                      "default lmforge-retrain-<name> for a params file other than "
                                                      "params.yaml. Never a name prefect.yaml deploys.")
    lock_timeout_s: float = Field(3600, gt=0, description="How long a run waits for an overlapping one to finish.")


class SearchRange(Section):
    """One searched key: a range (low, high; log scale; integers when both ends are) or a list of choices."""
    low: int | float | None = None
    high: int | float | None = None
    log: bool = False
    choices: list[int | float | str | bool] | None = None

    @model_validator(mode="after")
    def check_range(self) -> "SearchRange":
        if self.choices is None and (self.low is None or self.high is None or self.low >= self.high):
            raise ValueError("give low < high, or choices: [...]")
        if self.log and self.low is not None and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self


class SweepParams(Section):
    trials: int = Field(4, ge=1, description="Trials `lmforge sweep` trains.")
    workers: int = Field(2, ge=1, description="Trials that train at once: Dask workers of the local cluster "
                                              "(--dask-address uses a running cluster instead).")
    sampler: Literal["tpe", "random", "grid"] = Field("tpe", description="Optuna's sampler; grid needs choices only.")
    pruning: bool = Field(True, description="Optuna's median pruner stops a trial whose validation score per epoch "
                                            "trails the median of earlier trials.")
    space: dict[str, SearchRange] = Field(
        {"train.learning_rate": SearchRange(low=0.0002, high=0.002, log=True)},
        description="Dotted params key: its range or choices.")


class CanaryParams(Section):
    """A share of the traffic answered by @challenger (the registry's newest version) instead of @champion."""

    share: float = Field(0.0, ge=0, le=1, description="Share of requests the challenger answers (0: no canary).")
    key: str = Field("X-Canary-Key", description="Request header whose value pins a caller to one side (sticky), "
                                                 "read only when trust_client_key is on.")
    trust_client_key: bool = Field(False, description="Route by the client's own `key` header. Off: the server "
                                                      "derives the key from the caller's token (or, without auth, "
                                                      "its address), so no client picks its side.")
    min_requests: int = Field(200, ge=1, description="Answers each side needs before the canary's errors and p95 are "
                                                     "judged against the champion's.")
    error_margin: float = Field(0.02, ge=0, le=1, description="The canary is rolled back when its error rate exceeds "
                                                              "the champion's by more than this.")
    p95_margin_ms: float = Field(50.0, ge=0, description="... or its p95 latency exceeds the champion's by more than "
                                                         "this many milliseconds.")


class BatchParams(Section):
    """Adaptive micro-batching: concurrent requests to one model answered by one call."""

    max_size: int = Field(32, ge=1, description="Rows of one model call at most (1: every request on its own).")
    max_wait_ms: float = Field(2.0, ge=0, description="How long a batch may wait for requests already inside the "
                                                       "server; a lone request never waits.")
    workers: int = Field(1, ge=1, description="Model calls at once, each on one ONNX Runtime thread (1: one call "
                                              "at a time on all the runtime's threads).")


class ServeAuthParams(Section):
    """Bearer tokens for `lmforge serve` (`lmforge token NAME` makes one); /ping needs none."""

    required: Literal["beyond_loopback", "always"] = Field(
        "beyond_loopback", description="When callers need a token: whenever the server listens on anything but "
                                       "loopback (it refuses to start there without tokens), or always.")
    tokens_file: str | None = Field(None, description="YAML of `NAME: {sha256: HEX, scopes: [score, feedback]}`: "
                                                      "only digests at rest (`lmforge token NAME` appends one).")
    tokens_env: str = Field("LMFORGE_SERVE_TOKENS", description="Environment variable with more entries in the same "
                                                                "form (for secrets managers).")


class ServeMetricsParams(Section):
    """Prometheus metrics on /metrics (docs/serving.md has the table) and the monitor's verdicts among them."""

    enabled: bool = Field(True, description="Expose /metrics (a token with the metrics scope beyond loopback).")
    sample_s: float = Field(1.0, gt=0, description="How often each server process refreshes its gauges (queue "
                                                    "depths, versions served, canary figures, memory).")
    monitor_refresh_s: float = Field(60.0, gt=0, description="How often the server reads the latest monitoring run "
                                                             "of each version it serves (lmforge_monitor_*).")


class ServeParams(Section):
    host: str = Field("127.0.0.1", description="Address `lmforge serve` binds; anything but loopback needs bearer "
                                               "tokens (serve.auth).")
    auth: ServeAuthParams = ServeAuthParams()
    port: int = Field(5001, ge=1, le=65535)
    backend: Literal[BACKENDS] = Field(
        "onnx", description="What runs the champion; a version without a passed export of it runs eager.")
    max_batch: int = Field(256, ge=1, description="Rows per request; more is refused with 413.")
    max_text_chars: int = Field(5000, ge=1, description="Characters per text; longer is refused with 413.")
    max_concurrency: int = Field(64, ge=1, description="Requests worked on at once (a stream until its end); more "
                                                        "are answered 503 with Retry-After before their body is "
                                                        "read. /ping is always answered.")
    request_timeout_s: float = Field(120.0, gt=0, description="/invocations: a request not answered within it gets "
                                                               "504 (the model call under way finishes unseen).")
    max_body_bytes: int = Field(8_000_000, ge=1024, description="Bytes of a request's body; more is refused with "
                                                                 "413 from its Content-Length, or as soon as it "
                                                                 "passes the limit while read.")
    refresh_s: float = Field(2.0, gt=0, description="How often the server checks where the champion alias points.")
    shadow: bool = Field(False, description="Score every request with @challenger too, after answering (off the "
                                            "response path); both outputs go to the inference log under one request "
                                            "id, for `lmforge compare`.")
    canary: CanaryParams = CanaryParams()
    batch: BatchParams = BatchParams()
    metrics: ServeMetricsParams = ServeMetricsParams()
    max_new_tokens: int = Field(256, ge=1, description="chat, causal_lm: the most tokens one answer may be asked for "
                                                        "(an OpenAI request's max_tokens); more is refused with 400.")
    max_prompt_tokens: int = Field(2048, ge=1, description="chat, causal_lm: the longest prompt (a conversation "
                                                           "rendered with its template) served; longer is refused "
                                                           "with 400.")
    workers: int = Field(1, ge=1, le=64, description="Server processes sharing the port, each following the champion "
                                                     "on its own and writing its own segments of the inference log.")


class MonitorParams(Section):
    log: bool = Field(True, description="Record what `lmforge serve` and `lmforge predict` answer in the inference log "
                      "(paths.inference_log): time, request id, model version, backend, latency, output, input.")
    log_inputs: Literal["text", "hash", "none"] = Field(
        "text", description="What a logged row keeps of its input: the text, its keyed hash (HMAC-SHA256 under "
                "LMFORGE_LOG_SECRET, else .lmforge/log-secret, made once), or nothing.")
    retention_days: float = Field(30.0, gt=0, description="Log segments older than this are deleted when a writer "
                                  "starts, and every monitor.retention_check_s while it runs.")
    # A server runs for months: pruning only when a writer starts would keep a long-lived server's rows forever.
    retention_check_s: float = Field(3600.0, gt=0, description="How often a running writer (serve, predict, score) "
                                     "deletes the log segments older than monitor.retention_days.")
    queue_rows: int = Field(10000, ge=1, description="Rows waiting for the log writer; beyond that rows are counted as "
                            "not logged (on /ping) and answers go on.")
    flush_s: float = Field(1.0, gt=0, description="How often the writer closes a segment: a killed server loses at "
                           "most this many seconds of rows.")
    window_hours: float = Field(24.0, gt=0, description="`lmforge monitor` compares the champion's answers of this "
                                "many past hours with its test split.")
    sample_rows: int = Field(500, ge=20, description="Rows of each side the drift tests read at most (a random "
                             "sample): more rows detect smaller shifts and cost quadratic time in the embedding test.")
    alpha: float = Field(0.01, gt=0, lt=1, description="A test whose p-value is below this reports drift.")
    permutations: int = Field(200, ge=20, description="Permutations behind the embedding test's p-value (its "
                              "smallest possible p-value is 1/(permutations+1)).")
    experiment: str = Field("lmforge-monitoring", description="MLflow experiment of the monitor's runs.")
    on_drift: Literal["alert", "retrain"] = Field(
        "alert", description="alert: the lmforge.monitor.drift event only; retrain: also lmforge.retrain.requested, "
        "on which prefect.yaml's trigger runs the retrain deployment.")

    @model_validator(mode="after")
    def check_permutations(self) -> "MonitorParams":
        # A permutation test's smallest p-value is 1/(permutations+1): below 1/alpha - 1 permutations it is never under
        # alpha, and the embedding test could never report drift.
        needed = math.floor(1 / self.alpha)
        if 1 / (self.permutations + 1) >= self.alpha:
            raise ValueError(f"permutations {self.permutations} can never report drift at alpha {self.alpha} (the "
                             f"smallest p-value is 1/{self.permutations + 1}); set monitor.permutations to at least "
                             f"{needed} or raise monitor.alpha")
        return self


class FeedbackParams(Section):
    """Limits on labels that come back (`lmforge feedback`): how much of a training set they may make, which ones a
    person must look at first, and whether a model trained on new ones may be promoted unasked."""

    max_share: float = Field(0.2, gt=0, le=1, description="The largest share of a data version's training rows that "
                             "fed-back rows may be: feedback rows / (the source's training rows + those feedback "
                             "rows). Ingest keeps the earliest accepted rows up to it and holds the rest back until "
                             "the source grows (or this is raised); `lmforge feedback` refuses a file that alone "
                             "would exceed it. 1 turns the cap off.")
    confident: float | None = Field(0.9, gt=0, le=1, description="A classification label that contradicts a "
                                    "champion answer logged with at least this score is held for review (in the "
                                    "folder paths.feedback + '-review'), not trained on; null holds nothing. Other "
                                    "kinds log no confidence: nothing is held.")
    requires_approval: bool = Field(False, description="true: a challenger trained on feedback rows that the "
                                    "champion's data version did not have waits for a person (as promote.approval: "
                                    "required) before @champion moves.")


class CardParams(Section):
    """What a version's model card says that no artifact can: what the model is for, and where it must not be used."""

    intended_use: str = Field("", description="Who the model is for and what it does, in a sentence or two.")
    out_of_scope: list[str] = Field([], description="Uses the model is not for.")
    limitations: list[str] = Field([], description="Known weaknesses: data it was not trained on, failure modes.")
    contact: str = Field("", description="Who answers questions about the model (a team, an address).")


class PathParams(Section):
    dataset: str = "data/dataset"
    validation: str = "data/validation"
    tokenized: str = "data/tokenized"
    model: str = "data/model"
    metrics: str = "metrics"
    registered: str = "data/registered.json"
    promotion: str = "data/promotion.json"
    card: str = Field("data/card", description="Folder of the last registered version's MODEL_CARD.md and its JSON "
                      "twin (MLflow keeps every version's).")
    lock: str = Field("data/.retrain.lock", description="File lock that keeps overlapping runs from sharing outputs.")
    inference_log: str = Field("data/inference", description="Folder of the inference log's Parquet segments.")
    feedback: str = Field("data/feedback", description="Folder of labelled requests (`lmforge feedback`), read by "
                          "ingest as training rows beside data.source.")

    @field_validator("*")
    @classmethod
    def check_inside_project(cls, value: str, info: ValidationInfo) -> str:
        """Outputs stay in the project (the folder a run starts in), because steps delete and overwrite what is at
        these paths. Resolved lexically: `..` cannot climb out, while a folder of the project may still be a symlink
        to a bigger disk."""
        import os

        project = os.getcwd()
        resolved = os.path.normpath(os.path.join(project, value))
        if os.path.commonpath([project, resolved]) != project or resolved == project:
            where = "the project folder itself" if resolved == project else f"outside the project folder {project}"
            raise ValueError(f"{value} resolves to {resolved}, {where}, and lmforge overwrites what is there; give a "
                             f"path inside the project, such as {cls.model_fields[info.field_name].default}")
        return value

    @property
    def validated(self) -> str:
        """The rows that passed validation (validate writes them): what tokenize, evaluate and promote read."""
        return f"{self.validation}/dataset"

    @property
    def export(self) -> str:
        """Where the champion's exports go: beside the model folder."""
        return str(Path(self.model).parent / "export")


class Params(Section):
    task: Literal["classification", "seq2seq", "qa", "causal_lm", "chat"] = "classification"
    project: ProjectParams = ProjectParams()
    data: DataParams = DataParams()
    validate_: ValidateParams = Field(ValidateParams(), alias="validate")
    tokenize: TokenizeParams = TokenizeParams()
    model: ModelParams = ModelParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()
    registry: RegistryParams = RegistryParams()
    promote: PromoteParams = PromoteParams()
    export: ExportParams = ExportParams()
    schedule: ScheduleParams = ScheduleParams()
    serve: ServeParams = ServeParams()
    monitor: MonitorParams = MonitorParams()
    feedback: FeedbackParams = FeedbackParams()
    sweep: SweepParams = SweepParams()
    card: CardParams = CardParams()
    paths: PathParams = PathParams()

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    _file: str = PrivateAttr("params.yaml")
    _hub_pins: dict = PrivateAttr(default_factory=dict)

    @property
    def hub_pins(self) -> dict:
        """Dotted checkpoint key -> the Hub model it resolved to when the run started (tasks/hub/pins.py)."""
        return self._hub_pins

    @hub_pins.setter
    def hub_pins(self, pins: dict) -> None:
        self._hub_pins = pins

    @property
    def source_file(self) -> str:
        """The params file these params were loaded from (its pipeline in dvc.yaml, what dvc.lock records)."""
        return self._file

    @model_validator(mode="before")
    @classmethod
    def fill_defaults(cls, data: object, info: ValidationInfo) -> object:
        """The task kind's defaults and the file name's (when loaded from a file) under what the user wrote."""
        from tasks.core.defaults import default_layers

        if not isinstance(data, dict):
            return data
        filled: dict = {}
        for _, values in default_layers(data.get("task", "classification"), (info.context or {}).get("file")):
            filled = layer(cls, filled, values)
        return layer(cls, filled, data)

    @model_validator(mode="after")
    def check_metric_names(self) -> "Params":
        """Promotion metrics must be ones evaluate reports, so that a typo fails at load time, not after training."""
        fixed = TASK_METRICS[self.task]
        named = {"promote.primary_metric": [self.promote.primary_metric], "promote.guarded": list(self.promote.guarded),
                 "promote.floors": list(self.promote.floors)}
        for key, names in named.items():
            for name in names:
                kind, _, label = name.partition("_")
                per_class = self.task == "classification" and kind in ("precision", "recall", "f1") and (
                    self.data.labels is None or label in self.data.labels)
                if name not in fixed and not per_class:
                    extra = " or precision_/recall_/f1_<label>" if self.task == "classification" else ""
                    raise ValueError(f"{key}: {name!r} is not a metric evaluate reports for task {self.task}; "
                                     f"use one of {sorted(fixed)}{extra}")
        check_slices(self)
        known = CHECKS[self.task]
        for key, names in {"validate.policies": self.validate_.policies, "validate.mostly": self.validate_.mostly}.items():
            for name in names:
                if name not in known:
                    raise ValueError(f"{key}: {name!r} is no check of task {self.task}; use one of {sorted(known)}")
        for name, policy in self.validate_.policies.items():
            if POLICY_LETTERS[policy] not in known[name]:
                allowed = [word for word, letter in POLICY_LETTERS.items() if letter in known[name]]
                raise ValueError(f"validate.policies: {name} cannot {policy}; use {' or '.join(allowed)}")
        if BUILTIN_TASKS.get(self.data.source, self.task) != self.task:
            fitting = " or ".join(name for name, owner in BUILTIN_TASKS.items() if owner == self.task)
            raise ValueError(f"data.source: {self.data.source} is for task {BUILTIN_TASKS[self.data.source]}, not task: "
                             f"{self.task}; use {fitting} or a file")
        if self.promote.significance.test not in TASK_SIGNIFICANCE[self.task]:
            raise ValueError(f"promote.significance.test: {self.promote.significance.test} does not fit task "
                             f"{self.task}; use {' or '.join(TASK_SIGNIFICANCE[self.task])}")
        if self.tokenize.algorithm not in TASK_TOKENIZERS[self.task] and not self.tokenize.pretrained:
            raise ValueError(f"tokenize.algorithm: {self.tokenize.algorithm} does not fit task {self.task}; use "
                             + " or ".join(TASK_TOKENIZERS[self.task]))
        if self.train.select_by not in TASK_SELECT_BY[self.task]:
            raise ValueError(f"train.select_by: {self.train.select_by} does not fit task {self.task}; use "
                             + " or ".join(TASK_SELECT_BY[self.task]))
        data = self.data
        if (data.prompt_column is None) != (data.response_column is None):
            missing = "response_column" if data.response_column is None else "prompt_column"
            raise ValueError(f"data.{missing}: data.prompt_column and data.response_column name a pair of columns; "
                             "set both, or neither to read data.messages_column")
        if data.prompt_template is not None and (data.prompt_column is None or "{prompt}" not in data.prompt_template):
            raise ValueError("data.prompt_template: a template writes data.prompt_column's text where {prompt} stands; "
                             "set data.prompt_column and put {prompt} in the template, or remove it")
        if data.system_column is not None and data.prompt_column is None:
            raise ValueError("data.system_column: a system prompt column goes beside data.prompt_column; set "
                             "prompt_column and response_column, or remove it")
        if data.prompt_column is not None and self.task != "chat":
            raise ValueError("data.prompt_column: prompt and response columns make chat conversations; set task: "
                             "chat, or remove data.prompt_column and data.response_column")
        if self.task == "qa" and self.train.label_smoothing:
            raise ValueError("train.label_smoothing: a qa model's span head has no single logits to smooth; set it to 0")
        if self.train.lora is not None and (self.task not in ("causal_lm", "chat") or not self.model.pretrained):
            raise ValueError("train.lora: LoRA adapts a pretrained decoder; set task: causal_lm or chat and "
                             "model.pretrained, or remove train.lora")
        warm = self.model.pretrained_encoder or self.model.pretrained_decoder or self.model.decoder_layers
        if warm and (self.task != "seq2seq" or self.model.pretrained or not self.model.pretrained_encoder):
            raise ValueError("model.pretrained_encoder: warm-starting builds a seq2seq model from an encoder checkpoint "
                             "(and optionally pretrained_decoder); set task: seq2seq and model.pretrained_encoder, "
                             "with model.pretrained null")
        if self.train.freeze_encoder and (self.task != "seq2seq" or not (self.model.pretrained or warm)):
            raise ValueError("train.freeze_encoder: only a pretrained or warm-started seq2seq encoder can stay fixed; "
                             "set model.pretrained or model.pretrained_encoder, or turn it off")
        if self.train.freeze_embeddings and not (self.model.pretrained or self.model.pretrained_encoder):
            raise ValueError("train.freeze_embeddings: a model from scratch must learn its embeddings; set "
                             "model.pretrained or turn it off")
        shares = self.train.distributed.nproc * self.train.accumulation_steps
        if self.train.batch_size % shares:
            raise ValueError(f"train.batch_size: {self.train.batch_size} rows do not split evenly over "
                             f"train.distributed.nproc ({self.train.distributed.nproc}) x train.accumulation_steps "
                             f"({self.train.accumulation_steps}); use a multiple of {shares}")
        dumped = self.model_dump(by_alias=True)
        for key, searched in self.sweep.space.items():
            node = dumped
            for part in key.split("."):
                if not isinstance(node, dict) or part not in node:
                    raise ValueError(f"sweep.space: {key!r} is no params key; name one such as train.learning_rate")
                node = node[part]
            if self.sweep.sampler == "grid" and searched.choices is None:
                raise ValueError(f"sweep.space: {key} is a range, but sweep.sampler grid needs choices")
        if self.registry.alias == self.registry.champion_alias:
            raise ValueError("registry.champion_alias: must differ from registry.alias")
        return self

    def inputs_hash(self) -> str:
        """What decides the trained model besides the data: equal hashes on equal data mean nothing to retrain."""
        return self.section_hash("task", "project", "data", "validate", "tokenize", "model", "train")

    def section_hash(self, *sections: str) -> str:
        """A short hash of the named sections (all when none), for cache keys and lineage tags."""
        data = self.model_dump(mode="json", by_alias=True)
        for key in HOW_NOT_WHAT:  # how many processes or threads train it does not change what is trained
            data["train"].pop(key)
        picked = {name: data[name] for name in sections} if sections else data
        return hashlib.sha256(json.dumps(picked, sort_keys=True).encode()).hexdigest()[:16]


def check_slices(params: "Params") -> None:
    """promote.slices must cut rows that evaluate's outputs can score, by a column the dataset will have."""
    kept = set(params.data.keep_columns) & {*TASK_COLUMNS[params.task], "split", "group"}
    if kept:
        raise ValueError(f"data.keep_columns: {', '.join(sorted(kept))} would replace the dataset's own column; keep "
                         "a source column by another name (the data.*_column keys map the kind's own)")
    columns = {*TASK_COLUMNS[params.task], *params.data.keep_columns, *(["group"] if params.data.group_column else [])}
    for number, rule in enumerate(params.promote.slices):
        key = f"promote.slices.{number}"
        if params.task == "causal_lm":
            raise ValueError(f"{key}: a causal_lm model is judged by perplexity over all texts, which its saved "
                             "outputs cannot split; remove promote.slices")
        if rule.by == "class" and params.task != "classification":
            raise ValueError(f"{key}.by: class slices need task classification; use length or column")
        if rule.by == "column" and rule.column not in columns:
            raise ValueError(f"{key}.column: {rule.column!r} is not a column of the dataset (it has "
                             f"{', '.join(sorted(columns))}); name one, or keep it with data.keep_columns")
        if rule.by == "length" and (not rule.edges or any(b <= a for a, b in zip(rule.edges, rule.edges[1:]))
                                    or rule.edges[0] < 1):
            raise ValueError(f"{key}.edges: {rule.edges} must be increasing word counts of at least 1, e.g. [8, 16]")


def section_types(model: type[BaseModel]) -> dict[str, type[BaseModel] | None]:
    """Key (as written in params) -> the section class it holds, or None for a plain value."""
    found = {}
    for name, info in model.model_fields.items():
        kind = info.annotation
        found[info.alias or name] = kind if isinstance(kind, type) and issubclass(kind, Section) else None
    return found


def layer(model: type[BaseModel], base: dict, over: dict) -> dict:
    """`over` on top of `base`: sections merge key by key; any other value (a dict of metrics, a list) is replaced
    whole, so a file's `promote.guarded: {f1_macro: 0.02}` is the rule, not an addition to the default one."""
    sections = section_types(model)
    out = dict(base)
    for key, value in over.items():
        section = sections.get(key)
        if section is not None and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = layer(section, out[key], value)
        else:
            out[key] = value
    return out


def apply_override(raw: dict, assignment: str) -> None:
    """Set `section.key=value` in the raw mapping; the value is parsed as YAML (numbers, null, lists)."""
    key, sep, value = assignment.partition("=")
    if not sep or not key:
        raise LmforgeError(f"--set {assignment!r} is not of the form section.key=value; write e.g. --set train.epochs=2.")
    *parents, leaf = key.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise LmforgeError(f"--set {key}: {part} is not a section in params; check the key's spelling.")
    node[leaf] = yaml.safe_load(value)


def describe_error(error: ValidationError, origin: str, overridden: set[str]) -> str:
    """One sentence naming the first bad key, what is wrong and where (the file, or --set)."""
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if not key:  # a check across sections names its key at the start of its message
        key, _, message = message.partition(": ")
    if first["type"] == "extra_forbidden":
        reason = "is not a known key; remove it or fix its spelling"
    else:
        reason = f"is invalid: {message[0].lower()}{message[1:]}"
    where = "--set" if any(key == name or key.startswith(name + ".") or name.startswith(key + ".")
                           for name in overridden) else origin
    return f"{where}: {key} {reason}."


def read_raw(path: str | Path) -> dict:
    """The params file as written: a mapping of sections; a missing file or bad YAML is one LmforgeError."""
    path = Path(path)
    if not path.is_file():
        raise LmforgeError(f"{path}: no such params file; pass --params with an existing YAML file.")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise LmforgeError(f"{path}: not valid YAML ({error.__class__.__name__}); fix the syntax near the reported line.") from error
    if not isinstance(raw, dict):
        raise LmforgeError(f"{path}: the top level must be a mapping of sections such as data: and train:.")
    return raw


def read_approval(raw: dict) -> tuple[object, object]:
    """promote.approval and promote.approval_separation as the raw mapping has them (None when unset)."""
    promote = raw.get("promote")
    promote = promote if isinstance(promote, dict) else {}
    return promote.get("approval"), promote.get("approval_separation", True)


def read_trust(raw: dict) -> object:
    """model.trust_remote_code as the raw mapping has it (None when unset)."""
    model = raw.get("model")
    return model.get("trust_remote_code") if isinstance(model, dict) else None


def load_params(path: str | Path = "params.yaml", overrides: list[str] | None = None) -> Params:
    """Read, override and check params; any problem is one LmforgeError naming the key. What the file leaves out
    comes from the task kind's and the file name's defaults (tasks/core/defaults.py), then the schema's."""
    path = Path(path)
    raw = read_raw(path)
    trusted, policy = read_trust(raw), read_approval(raw)
    for assignment in overrides or []:
        apply_override(raw, assignment)
    if policy[0] == "required" and read_approval(raw) != policy:
        # The project's decision that a person approves each champion is the reviewed file's: a flag on one command
        # line or a deployment's overrides may not take it back.
        raise LmforgeError(f"{path} requires approval (promote.approval: required), which --set or a deployment's "
                           "overrides may not change (nor promote.approval_separation); edit the params file itself.")
    if read_trust(raw) != trusted:
        # Running a repo's own code is a decision for the reviewed params file, not a flag on one command line.
        raise LmforgeError("--set model.trust_remote_code: a Hub model's own code runs only when the params file "
                           f"itself says `trust_remote_code: true` under model:; write it in {path} (after reading "
                           "that code).")
    try:
        params = Params.model_validate(raw, context={"file": str(path)})
    except ValidationError as error:
        overridden = {assignment.partition("=")[0] for assignment in overrides or []}
        raise LmforgeError(describe_error(error, str(path), overridden)) from None
    params._file = str(path)
    return params


def matches_params_file(params: Params, *sections: str) -> bool:
    """Whether these sections equal the params file's: only then may dvc.lock record an output as that file's."""
    try:
        on_disk = load_params(params.source_file)
    except LmforgeError:
        return False
    return params.section_hash(*sections) == on_disk.section_hash(*sections)

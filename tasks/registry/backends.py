"""Ways to run an exported classifier: eager PyTorch, ONNX Runtime (fp32, or int8 with an fp32 fallback for rows near
a tie) and the torch.export program.

Every backend takes texts and gives logits, in length-sorted batches (as evaluate does), so that parity checks,
`lmforge predict --backend` and serving all run the same code.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tasks.core.errors import LmforgeError

ONNX_FILE, INT8_FILE, PROGRAM_FILE = "model.onnx", "model.int8.onnx", "model.pt2"
BACKEND_FILES = {"onnx": ONNX_FILE, "onnx-int8": INT8_FILE, "torch-export": PROGRAM_FILE}
# An int8 classifier's fallback, when its export chose one (tasks/kinds/classification/quantize.py): rows whose two
# highest int8 logits are nearer than {"fallback_gap": G} are scored again by the fp32 file, whose labels they keep.
FALLBACK_FILE = "model.int8.json"
# A seq2seq model's exports: an encoder and one decoder step per backend (tasks/kinds/seq2seq/export.py).
SEQ2SEQ_FILES = {"onnx": ("encoder.onnx", "decoder.onnx"), "onnx-int8": ("encoder.int8.onnx", "decoder.int8.onnx")}
BACKENDS = ("eager", *BACKEND_FILES)
# Model types whose position ids start after the pad token's (transformers' create_position_ids_from_input_ids).
PADDED_POSITIONS = {"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "roberta-prelayernorm", "data2vec-text",
                    "xmod", "mpnet", "ibert"}
# Threads of the ONNX sessions opened in this context; None: ONNX Runtime's default (one per core). A shadow model
# gets one thread, so it never takes more than a core from the champion.
SESSION_THREADS: contextvars.ContextVar[int | None] = contextvars.ContextVar("session_threads", default=None)
Logits = Callable[[dict[str, np.ndarray]], np.ndarray]


@contextlib.contextmanager
def limit_session_threads(threads: int):
    token = SESSION_THREADS.set(threads)
    try:
        yield
    finally:
        SESSION_THREADS.reset(token)


def capped_threads() -> int | None:
    """OMP_NUM_THREADS, where set: the cap torch honours, so that ONNX Runtime (which does not read it) keeps to it
    too, e.g. on a machine shared by several processes, where each one's threads on every core slow all."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def open_onnx_session(path: str | Path):
    """A CPU session whose threads sleep between the graph's parallel sections instead of spinning (ONNX Runtime's
    default). Spinning, a waiting thread keeps its core busy, taken from the Python work between calls (tokenizing,
    a fallback session, a server's event loop): on 2 cores the SST-2 classifier alone scored 1.07x the rows/s in
    fp32 and 1.5x in int8 with its fallback, and a server answered as many requests with a third of a core less
    (bench/onnx_spinning.py, bench/README.md)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # warnings about unused initializers are noise to a user
    threads = SESSION_THREADS.get() or capped_threads()
    if threads:
        options.intra_op_num_threads = options.inter_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def export_files(backend: str) -> set[str]:
    """Every file name a backend's export may read, whatever the task kind."""
    fallback = {FALLBACK_FILE, ONNX_FILE} if backend == "onnx-int8" else set()
    return {BACKEND_FILES.get(backend, ""), *SEQ2SEQ_FILES.get(backend, ()), *fallback} - {""}


def backend_files(folder: str | Path, backend: str) -> list[str]:
    """The files a classifier's backend reads in `folder`: its own, and for int8 with a fallback, the fp32 one too."""
    fallback = backend == "onnx-int8" and (Path(folder) / FALLBACK_FILE).is_file()
    return [BACKEND_FILES[backend], *([FALLBACK_FILE, ONNX_FILE] if fallback else [])]


def near_tie(logits: np.ndarray, gap: float) -> np.ndarray:
    """Which rows have their two highest logits less than `gap` apart."""
    top = np.sort(logits, axis=-1)[:, -2:]
    return top[:, 1] - top[:, 0] < gap


def with_fallback(run: Logits, folder: Path) -> Logits:
    """`run` (int8 logits), except for rows nearer a tie than the export's fallback gap: those the fp32 model scores,
    so that the labels int8 rounding would flip stay fp32's while most rows run at int8's speed."""
    gap = float(json.loads((folder / FALLBACK_FILE).read_text())["fallback_gap"])
    fp32 = open_onnx_session(folder / ONNX_FILE)

    def run_with_fallback(batch):
        logits = run(batch)
        near = np.flatnonzero(near_tie(logits, gap))
        if near.size:
            logits[near] = fp32.run(["logits"], {name: rows[near] for name, rows in batch.items()})[0]
        return logits
    return run_with_fallback


def drop_stack_traces(*programs):
    """torch.export programs without the Python stack trace of each node: torch.export.save and the ONNX exporter
    write them into the files, naming this checkout's and this virtualenv's paths, so that the same weights exported
    from two folders gave different bytes."""
    for program in programs:
        for node in program.graph.nodes:
            node.meta.pop("stack_trace", None)
    return programs


def position_limit(folder: str | Path) -> int:
    """The longest input the model takes: a from-scratch model has only as many positions as it was trained with."""
    config = json.loads((Path(folder) / "config.json").read_text())
    limit = int(config.get("max_position_embeddings", 512))
    # RoBERTa-style models number positions from the pad id + 1, so 514 embeddings hold 512 tokens.
    offset = int(config.get("pad_token_id") or 0) + 1 if config.get("model_type") in PADDED_POSITIONS else 0
    return limit - offset


def export_path(folder: Path, backend: str) -> Path:
    """The file of a backend's export in `folder`; one sentence for an unknown backend or a missing export."""
    if backend not in BACKEND_FILES:
        raise LmforgeError(f"backend {backend!r} is unknown; use one of {', '.join(BACKENDS)}.")
    path = folder / BACKEND_FILES[backend]
    if not path.is_file():
        raise LmforgeError(f"{path}: no {backend} export here; run `lmforge export` first.")
    return path


def load_logits(folder: str | Path, backend: str) -> Logits:
    """A function from a tokenized batch (input_ids, attention_mask as int64 arrays) to logits."""
    folder = Path(folder)
    if backend == "eager":
        import torch
        from transformers import AutoModelForSequenceClassification

        from tasks.training.loading import load_trained

        model = load_trained(AutoModelForSequenceClassification, folder)

        def run_eager(batch):
            with torch.inference_mode():
                return model(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits.numpy()
        return run_eager
    path = export_path(folder, backend)
    if backend == "torch-export":
        import torch

        program = torch.export.load(str(path)).module()

        def run_program(batch):
            with torch.inference_mode():
                return program(*(torch.from_numpy(batch[k]) for k in ("input_ids", "attention_mask"))).numpy()
        return run_program
    session = open_onnx_session(path)
    run = lambda batch: session.run(["logits"], batch)[0]  # noqa: E731
    return with_fallback(run, folder) if FALLBACK_FILE in backend_files(folder, backend) else run


class TextScorer:
    """Texts to logits with one loaded model and tokenizer, reused across calls (a server answers many requests)."""

    def __init__(self, folder: str | Path, backend: str):
        from tasks.training.loading import load_trained_tokenizer

        self.tokenizer = load_trained_tokenizer(folder)
        self.limit = min(self.tokenizer.model_max_length, position_limit(folder))
        self.logits = load_logits(folder, backend)
        # Read once: a server's every model call reading config.json again cost 4% of its model thread.
        self.labels = json.loads((Path(folder) / "config.json").read_text()).get("id2label", {})

    def __call__(self, texts: list[str], batch_size: int = 128) -> np.ndarray:
        """Logits of each text, in the texts' order; batches of similar length so that padding costs little."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        found: dict[int, np.ndarray] = {}
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            # At least 2 positions: the exported graphs were traced with a sequence dimension that starts at 2.
            batch = self.tokenizer([texts[i] for i in chunk], truncation=True, max_length=self.limit,
                                   padding="longest", pad_to_multiple_of=2, return_tensors="np")
            rows = self.logits({"input_ids": batch["input_ids"].astype(np.int64),
                                "attention_mask": batch["attention_mask"].astype(np.int64)})
            found |= dict(zip(chunk, rows))
        return np.stack([found[i] for i in range(len(texts))]) if texts else np.zeros((0, 0))


def label_texts(scorer: TextScorer, texts: list[str]) -> list[tuple[str, float]]:
    """(label, probability) per text."""
    labels = scorer.labels
    logits = scorer(texts)
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    return [(labels[str(int(row.argmax()))], float(row.max())) for row in probabilities]

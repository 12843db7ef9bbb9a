"""score: a registered model (the champion by default) over a file of inputs, in length-sorted batches, writing each
input's prediction with the version that made it; every answer goes to the inference log like a served one.

`lmforge score --file IN --out OUT` runs it as a Prefect flow (flows/score.py). Batches are sorted by length so a
batch pads to its own longest input, not the file's; the output keeps the input file's order. The inputs are read
whole (strings only); the model's work and the log are per batch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tasks.core.config import Params
from tasks.core.errors import LmforgeError
from tasks.core.runtime import step

OUT_FORMATS = (".parquet", ".csv", ".jsonl")


@dataclass
class ScoreResult:
    out: str
    rows: int
    model_name: str
    model_version: str
    backend: str
    seconds: float
    logged: int
    read_as: str  # how the file's inputs were read ("one per line of questions.txt"): a file read as one row shows

    def summary(self) -> str:
        return (f"{self.rows} inputs ({self.read_as}) scored by {self.model_name} version {self.model_version} "
                f"({self.backend}) in {self.seconds:.1f} s -> {self.out}; {self.logged} logged")


def write_table(frame, out: Path) -> None:
    """By the suffix, renamed into place whole: a reader never sees half a file."""
    temporary = out.with_name(f".{out.name}.tmp")
    if out.suffix == ".csv":
        frame.to_csv(temporary, index=False)
    elif out.suffix == ".jsonl":
        frame.to_json(temporary, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_parquet(temporary, index=False)
    temporary.replace(out)


def score_file(params: Params, source: Path, out: Path, model_uri: str, backend: str = "eager",
               batch_rows: int = 64) -> ScoreResult:
    """The pure core: predictions for every input of `source` (data.* columns, joined as predict joins them)."""
    import pandas as pd

    from tasks.data.inference_log import make_rows, new_request_ids, open_log, version_context
    from tasks.kinds import get_kind
    from tasks.predict import describe_reading, load_texts
    from tasks.registry.model_refs import find_model_version, parse_model_ref
    from tasks.registry import tracking
    from tasks.registry.registered import load_registered

    if out.suffix not in OUT_FORMATS:
        raise LmforgeError(f"--out {out}: write to a {', '.join(OUT_FORMATS)} file.")
    kind = get_kind(params.task)
    texts = load_texts(source, params)
    version = find_model_version(tracking.client(params), parse_model_ref(model_uri, params.registry.model_name))
    model = load_registered(params, f"models:/{version.name}/{version.version}")  # the version found, whatever moves
    context = version_context("score", version, model_uri, backend)
    log = open_log(params.paths.inference_log, params.monitor)
    request_ids = new_request_ids(len(texts))
    outputs: list = [None] * len(texts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    started = time.perf_counter()
    for start in range(0, len(order), batch_rows):
        chunk = order[start:start + batch_rows]
        batch = [texts[i] for i in chunk]
        began = time.perf_counter()
        answers = kind.format_outputs(model.predict(batch, params={"backend": backend}) if backend != "eager"
                                      else model.predict(batch))
        for i, answer in zip(chunk, answers):
            outputs[i] = answer
        if log:
            log.record(make_rows(batch, [{"output": o, "score": s} for o, s in answers], [request_ids[i] for i in chunk],
                                 context, 1000 * (time.perf_counter() - began) / len(chunk), params.monitor.log_inputs),
                       wait=True)
    seconds = time.perf_counter() - started
    frame = pd.DataFrame({"input": texts, "prediction": [o for o, _ in outputs], "score": [s for _, s in outputs],
                          "model_name": version.name, "model_version": str(version.version), "request_id": request_ids})
    out.parent.mkdir(parents=True, exist_ok=True)
    write_table(frame, out)
    status = log.close_and_warn() if log else {"written": 0}
    return ScoreResult(str(out), len(texts), version.name, str(version.version), backend, round(seconds, 3),
                       status["written"], describe_reading(source, params))


@step
def score(params: Params, source: str, out: str, model_uri: str, backend: str = "eager",
          batch_rows: int = 64) -> ScoreResult:
    return score_file(params, Path(source), Path(out), model_uri, backend, batch_rows)

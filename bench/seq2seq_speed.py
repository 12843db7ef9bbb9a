"""Seq2seq beam search on ONNX Runtime (fp32, int8) vs eager transformers generate, on a trained model's test split.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/seq2seq_speed.py [--params configs/multi30k.yaml] [--beams 4]
        [--repeats 3] [--threads 2] [--limit N] [--out bench/results/seq2seq_speed.json]

Run in the project after `lmforge run --params configs/multi30k.yaml` (the model in paths.model, the validated test
split, test_2016_flickr, in paths.validated). The script exports that model afresh into a temporary folder with the
export step's own code (tasks/kinds/seq2seq/export.py), then times, interleaved, the same sentences through each backend at
the same beam size, batch size and length limits (params.evaluate): sentences/s, test BLEU, and the share of outputs
identical to eager's.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, add_ratios, collect_medians, make_parser, print_table, run_interleaved, write_result  # noqa: E402

BACKENDS = ("eager", "onnx", "onnx-int8")
COLUMNS = [("approach", "backend"), ("sentences_per_s", "sentences/s"), ("sentences_per_s_over_eager", "x eager"),
           ("bleu", "BLEU"), ("identical", "same as eager"), ("seconds", "seconds"), ("errors", "errors")]


def load_translators(params, model_dir: Path, export_dir: Path) -> dict:
    """backend -> texts-to-texts function, each loaded once (loading is not timed)."""
    from transformers import AutoModelForSeq2SeqLM

    from tasks.kinds.seq2seq.evaluate import generate
    from tasks.kinds.seq2seq.onnx import OnnxTranslator
    from tasks.kinds.seq2seq.tokenize import load_pair_tokenizers

    model = AutoModelForSeq2SeqLM.from_pretrained(str(model_dir)).eval()
    tokenizer, decoder = load_pair_tokenizers(model_dir, params)
    found = {"eager": lambda texts: generate(model, tokenizer, decoder, texts, params)}
    return found | {backend: OnnxTranslator(export_dir, backend, params) for backend in BACKENDS[1:]}


def measure(translate, sources: list[str], references: list[str], outputs: dict, backend: str) -> dict:
    from tasks.kinds.seq2seq.metrics import corpus_scores

    start = time.perf_counter()
    hyps = translate(sources)
    seconds = time.perf_counter() - start
    outputs[backend] = hyps
    eager = outputs.get("eager", hyps)
    return {"seconds": seconds, "sentences_per_s": len(sources) / seconds, "bleu": corpus_scores(hyps, references)["bleu"],
            "identical": sum(a == b for a, b in zip(hyps, eager)) / len(sources)}


def main() -> None:
    parser = make_parser(__doc__, "bench/results/seq2seq_speed.json")
    parser.add_argument("--params", default="configs/multi30k.yaml")
    parser.add_argument("--beams", type=int, default=4)
    parser.add_argument("--limit", type=int, default=0, help="Only the first N test sentences (0: all).")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(REPO))
    import pandas as pd
    import torch

    from tasks.core.config import load_params
    from tasks.export import COPIED, describe_error
    from tasks.kinds.seq2seq.export import write_seq2seq_exports

    torch.set_num_threads(args.threads)
    params = load_params(args.params, [f"evaluate.num_beams={args.beams}"])
    model_dir = Path(params.paths.model)
    test = pd.read_parquet(Path(params.paths.validated) / "test.parquet")
    limit = args.limit or len(test)
    sources, references = test["source"].astype(str).tolist()[:limit], test["target"].astype(str).tolist()[:limit]
    with tempfile.TemporaryDirectory(prefix="lmforge-seq2seq-bench-") as folder:
        export_dir = Path(folder)
        for name in COPIED:
            if (model_dir / name).is_file():
                (export_dir / name).write_bytes((model_dir / name).read_bytes())
        start = time.perf_counter()
        errors = write_seq2seq_exports(model_dir, export_dir, describe_error)
        export_seconds = time.perf_counter() - start
        if any(errors.values()):
            sys.exit(f"export failed: {errors}")
        translators, outputs = load_translators(params, model_dir, export_dir), {}
        runs = run_interleaved({name: (lambda name=name: measure(translators[name], sources, references, outputs, name))
                                for name in BACKENDS}, args.repeats)
        sizes = {path.name: path.stat().st_size for path in export_dir.glob("*.onnx")}
    rows = collect_medians(runs, ("sentences_per_s", "seconds", "bleu", "identical"))
    add_ratios(rows, "sentences_per_s", ["eager"])
    out = write_result(REPO / args.out, {"settings": vars(args), "model": str(model_dir.resolve()), "rows": limit,
                                         "evaluate": params.evaluate.model_dump(), "export_seconds": export_seconds,
                                         "onnx_bytes": sizes, "runs": runs, "summary": list(rows.values())})
    print_table(f"{args.params}: {limit} test sentences, beam {args.beams}, batch {params.evaluate.batch_size}, "
                f"{args.threads} threads, medians of {args.repeats}", list(rows.values()), COLUMNS)
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()

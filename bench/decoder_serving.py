"""A decoder served from its ONNX export against eager PyTorch: greedy, 32 new tokens, at concurrency 1 and 8.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/decoder_serving.py [--repeats 3] [--seconds 20] [--size gpt2-124m]
        [--model FOLDER] [--backends onnx,onnx-int8] [--work DIR] [--out bench/results/decoder_serving.json]

The decoder (--size gpt2-124m): GPT-2 small's shape (12 layers, width 768, 12 heads, 1,024 positions, a 50,257-token
vocabulary: 124M parameters) with random weights; its tokenizer a byte-level BPE learnt from lmforge's built-in
texts, without a pad token as GPT-2's, filled up to GPT-2's vocabulary with placeholder tokens (random weights write
any of them: the text is not the point, its cost is). --size tiny (2 layers, width 128) checks the script in seconds
and measures only overhead. Exported by lmforge's own causal_lm export (fp32 and int8, with its parity check on 64
prompts); --work DIR keeps the model and export for the next run.

Each client sends one prompt (the first words of a built-in story) per request to a micro-batcher
(tasks/servers/batching.py with serve.batch's defaults), as `lmforge serve` does, without HTTP; it calls the backend:
eager = transformers' generate in left-padded batches (the pyfunc's eager backend), onnx and onnx-int8 =
tasks.kinds.causal_lm.onnx.OnnxGenerator on ONNX Runtime (its default threads). Concurrency 1 is one client, 8 is
eight at once; each runs --seconds, interleaved in every repeat. Tokens/s counts the tokens written (a row's EOS
included, nothing after it), over the wall clock of the window.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, make_parser, print_table, run_clients, run_interleaved, write_result  # noqa: E402

sys.path.insert(0, str(REPO))
EOS = "<|endoftext|>"
SIZES = {"gpt2-124m": dict(n_embd=768, n_layer=12, n_head=12, n_positions=1024, vocab=50257),
         "tiny": dict(n_embd=128, n_layer=2, n_head=4, n_positions=1024, vocab=2000)}


def build_tokenizer(vocab_size: int):
    """Byte-level BPE learnt from the built-in texts, its vocabulary filled with placeholders; no pad token."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    from tests.families import train_core

    data = json.loads(train_core("gpt2", [EOS], vocab_size=2000).to_str())
    vocab = data["model"]["vocab"]
    filler = (f"Ġzq{n}" for n in range(10 ** 6))  # "Ġ" is the byte-level space: each decodes to " zqN"
    while len(vocab) < vocab_size:
        vocab.setdefault(next(filler), len(vocab))
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(data)), bos_token=EOS,
                                   eos_token=EOS, unk_token=EOS, model_max_length=1024)


def build_decoder(size: str, folder: Path) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, GPT2Config

    shape = SIZES[size]
    tokenizer = build_tokenizer(shape["vocab"])
    eos = tokenizer.eos_token_id
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=shape["n_positions"], n_embd=shape["n_embd"],
                        n_layer=shape["n_layer"], n_head=shape["n_head"], bos_token_id=eos, eos_token_id=eos)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(str(folder), safe_serialization=True)
    tokenizer.save_pretrained(str(folder))
    return folder


def prepare(size: str, work: Path, params, texts: list[str],
            trained: Path | None = None) -> tuple[Path, Path, dict, float]:
    """(model folder, export folder, export record, seconds the export took), built unless --work holds them;
    `trained`: a model folder lmforge trained (--model), exported instead of a random one."""
    from tasks.export import describe_error
    from tasks.kinds.causal_lm.export import export_decoder

    name = f"model-{trained.parent.name}" if trained else size
    model, out = trained or work / f"{name}-model", work / f"{name}-export"
    record_file = out / "record.json"
    if record_file.is_file():
        found = json.loads(record_file.read_text())
        return model, out, found["record"], found["seconds"]
    shutil.rmtree(out, ignore_errors=True)
    if not trained:
        shutil.rmtree(model, ignore_errors=True)
        build_decoder(size, model)
    out.mkdir(parents=True)
    for path in model.iterdir():
        if path.suffix != ".safetensors":
            shutil.copy2(path, out / path.name)
    started = time.perf_counter()
    record = export_decoder(params, model, out, texts[:64], describe_error)
    seconds = round(time.perf_counter() - started, 1)
    record_file.write_text(json.dumps({"record": record, "seconds": seconds}, default=str))
    return model, out, record, seconds


def counting(run_batch, eos: int, counter: list[int]):
    """run_batch, counting the tokens it wrote: each row's up to its first EOS (included)."""
    def run(ids, mask, new):
        rows = run_batch(ids, mask, new)
        counter[0] += sum(row.index(eos) + 1 if eos in row else len(row) for row in rows)
        return rows
    return run


def load_backends(model_dir: Path, out: Path, params, backends: list[str]) -> dict:
    """Per backend: (prompts -> continuations through the one batching the server uses, its token counter)."""
    from tasks.kinds.causal_lm.evaluate import load_causal_lm
    from tasks.decoders.generate import continue_prompts, eager_runner, position_limit
    from tasks.kinds.causal_lm.onnx import OnnxGenerator

    model, tokenizer = load_causal_lm(model_dir)
    limit = position_limit(model.config.to_dict())
    runners = {"eager": eager_runner(model, tokenizer, False, params.evaluate)}
    runners |= {backend: OnnxGenerator(out, backend, params).generate_ids for backend in backends}
    loaded = {}
    for name, run_batch in runners.items():
        counter = [0]
        run = counting(run_batch, tokenizer.eos_token_id, counter)
        loaded[name] = (lambda texts, run=run: [{"output": text} for text in
                                                continue_prompts(tokenizer, texts, params.evaluate, limit, run)], counter)
    return loaded


def serve_clients(predict, counter: list[int], prompts: list[str], clients: int, seconds: float) -> dict:
    """`clients` threads sending one prompt per request through a micro-batcher for `seconds`."""
    from tasks.servers.batching import MicroBatcher

    inside, lock, latencies = [0], threading.Lock(), []
    batcher = MicroBatcher(predict, 32, 2.0, lambda: inside[0])
    predict([prompts[0]])  # warm: the first call of a backend allocates what the later ones reuse
    counter[0] = 0
    deadline = time.perf_counter() + seconds

    def client(offset: int) -> None:
        n = offset
        while time.perf_counter() < deadline:
            with lock:
                inside[0] += 1
            started = time.perf_counter()
            batcher([prompts[n % len(prompts)]])
            latencies.append(time.perf_counter() - started)
            with lock:
                inside[0] -= 1
            n += clients

    wall = run_clients(client, clients)
    batcher.close()
    status = batcher.status()
    return {"tokens_per_s": counter[0] / wall, "tokens": counter[0], "requests": len(latencies),
            "p50_ms": 1000 * statistics.median(latencies) if latencies else None,
            "rows_per_call": status["rows_per_call"], "wall_s": wall}


def main() -> None:
    import torch

    from tasks.core.config import load_params
    from tasks.kinds.causal_lm.builtin import generate_stories
    from tasks.kinds.causal_lm.tokenize import prompt_of

    parser = make_parser(__doc__, "bench/results/decoder_serving.json")
    parser.add_argument("--seconds", type=float, default=20, help="Length of each measured window.")
    parser.add_argument("--size", choices=sorted(SIZES), default="gpt2-124m")
    parser.add_argument("--backends", default="onnx,onnx-int8")
    parser.add_argument("--concurrency", default="1,8")
    parser.add_argument("--work", help="A folder that keeps the model and its export between runs.")
    parser.add_argument("--model", help="A causal_lm model folder lmforge trained (e.g. data/causal_lm/model after "
                                        "`lmforge run --params params.causal_lm.yaml`), served instead of --size.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    params = load_params(REPO / "params.causal_lm.yaml", ["evaluate.max_new_tokens=32", "evaluate.batch_size=32"])
    texts = generate_stories(200, 11)["text"].tolist()
    prompts = [prompt_of(text) for text in texts]
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="lmforge-decoder-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        trained = Path(args.model).resolve() if args.model else None
        model_dir, out, record, export_seconds = prepare(args.size, work, params, texts, trained)
        backends = [name for name in args.backends.split(",") if record.get(name, {}).get("status") in ("passed", "failed")
                    and "error" not in record[name]]
        loaded = load_backends(model_dir, out, params, backends)
        levels = [int(n) for n in args.concurrency.split(",")]
        measures = {f"{name} c{n}": (lambda name=name, n=n: serve_clients(*loaded[name], prompts, n, args.seconds))
                    for n in levels for name in loaded}
        runs = run_interleaved(measures, args.repeats)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    rows = []
    for name in loaded:
        row = {"backend": name}
        for n in levels:
            found = [run for run in runs[f"{name} c{n}"] if "error" not in run]
            median = lambda key: statistics.median(run[key] for run in found) if found else None  # noqa: E731
            row |= {f"c{n}_tokens_per_s": median("tokens_per_s"), f"c{n}_p50_ms": median("p50_ms"),
                    f"c{n}_rows_per_call": median("rows_per_call")}
        parity = record.get(name, {})
        row |= {"identical": parity.get("identical"), "max_abs_logit_diff": parity.get("max_abs_logit_diff"),
                "parity": parity.get("status")}
        rows.append(row)
    for row in rows:
        for n in levels:
            base = rows[0][f"c{n}_tokens_per_s"]
            row[f"c{n}_over_eager"] = row[f"c{n}_tokens_per_s"] / base if base and row[f"c{n}_tokens_per_s"] else None
    columns = [("backend", "backend")] + [(f"c{n}_{key}", f"c{n} {label}") for n in levels for key, label in (
        ("tokens_per_s", "tok/s"), ("over_eager", "x eager"), ("p50_ms", "p50 ms"), ("rows_per_call", "rows/call"))]
    name = Path(args.model).parent.name if args.model else args.size
    print_table(f"{name} decoder, greedy, {params.evaluate.max_new_tokens} new tokens, medians of {args.repeats} x "
                f"{args.seconds:g} s", rows, columns + [("identical", "identical"), ("max_abs_logit_diff", "max |dlogit|")])
    write_result(REPO / args.out, {"settings": vars(args), "size": SIZES[args.size], "export_seconds": export_seconds,
                                   "export": record, "runs": runs, "summary": rows})


if __name__ == "__main__":
    main()

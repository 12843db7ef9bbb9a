"""LoRA adapters kept apart: the registered artifact against its base's size, and the memory of serving one adapter
against two on one base (tasks/decoders/adapters.py shares the base's weights between them).

    .venv/bin/python bench/lora_adapters.py [--layers 12] [--width 768] [--rank 8] [--repeats 3]
        [--out bench/results/lora_adapters.json]

A GPT-2 base (random weights, --layers x --width, GPT-2 small's shape by default) and two adapters on it (LoRA of
rank --rank on c_attn, as train saves one kept apart) are written to a temporary folder. Each measurement runs in a
fresh process: its resident memory after loading torch and transformers, then after loading the adapters with
tasks.decoders.adapters.load_decoder and answering a prompt with each; the difference is what the models take. Also:
the bytes of distinct tensors the loaded models hold (what memory must hold, whatever the allocator does), and the
artifact's size (the adapter folder) against the base's weights. With --base-only, the base alone as a reference.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, make_parser, print_table, write_result  # noqa: E402

MEASURE = """
import json, resource, sys, torch, transformers
torch.set_num_threads(1)
from tasks.decoders.adapters import load_decoder
def rss(): return int(open('/proc/self/statm').read().split()[1]) * 4096
before = rss()
models = [load_decoder(folder) for folder in sys.argv[1:]]
with torch.no_grad():
    for model in models:
        model(input_ids=torch.tensor([[1, 2, 3, 4]]))
seen = {}
for model in models:
    for tensor in [*model.parameters(), *model.buffers()]:
        seen[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
print(json.dumps({"rss_bytes": rss() - before, "tensor_bytes": sum(seen.values())}))
"""


def make_folders(root: Path, layers: int, width: int, rank: int) -> tuple[Path, list[Path]]:
    import torch
    from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

    from tasks.core.config import LoraParams
    from tasks.decoders.build import LORA_MERGE_ATTR, attach_lora, save_decoder

    base = root / "base"
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(n_layer=layers, n_embd=width, n_head=max(width // 64, 1))).save_pretrained(
        str(base), safe_serialization=True)
    adapters = []
    for seed in (1, 2):
        model = attach_lora(AutoModelForCausalLM.from_pretrained(str(base)), LoraParams(r=rank))
        torch.manual_seed(seed)
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if "lora_B" in name:
                    parameter.normal_(0, 0.02)
        save_decoder(SimpleNamespace(model=model, **{LORA_MERGE_ATTR: False}), root / f"adapter{seed}")
        adapters.append(root / f"adapter{seed}")
    return base, adapters


def measure(folders: list[Path]) -> dict:
    found = subprocess.run([sys.executable, "-c", MEASURE, *map(str, folders)], cwd=REPO, capture_output=True,
                           text=True, check=True)
    return json.loads(found.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = make_parser(__doc__, "bench/results/lora_adapters.json")
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--rank", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lmforge-lora-bench-") as tmp:
        base, adapters = make_folders(Path(tmp), args.layers, args.width, args.rank)
        base_bytes = sum(path.stat().st_size for path in base.glob("*.safetensors"))
        artifact = sum(path.stat().st_size for path in adapters[0].iterdir())
        runs = {"one adapter": [], "two adapters, one base": [], "the base alone": []}
        for _ in range(args.repeats):
            runs["one adapter"].append(measure(adapters[:1]))
            runs["two adapters, one base"].append(measure(adapters))
            runs["the base alone"].append(measure([base]))
    rows = [{"served": name, **{key: sorted(r[key] for r in found)[len(found) // 2] / 1e6
                                for key in ("rss_bytes", "tensor_bytes")}} for name, found in runs.items()]
    for row in rows:
        row["rss_ratio"] = round(row["rss_bytes"] / rows[0]["rss_bytes"], 3)
        row["tensor_ratio"] = round(row["tensor_bytes"] / rows[0]["tensor_bytes"], 3)
    print_table(f"GPT-2 {args.layers}x{args.width} base, LoRA r{args.rank} on c_attn; MB, medians of {args.repeats}",
                rows, [(key, key) for key in ("served", "rss_bytes", "tensor_bytes", "rss_ratio", "tensor_ratio")])
    share = artifact / base_bytes
    print(f"artifact (the adapter's folder) {artifact / 1e6:.2f} MB = {100 * share:.2f} % of the base's weights "
          f"({base_bytes / 1e6:.1f} MB)")
    write_result(REPO / args.out, {"settings": vars(args), "runs": runs, "summary": rows,
                                   "artifact_bytes": artifact, "base_bytes": base_bytes, "artifact_share": share})


if __name__ == "__main__":
    main()

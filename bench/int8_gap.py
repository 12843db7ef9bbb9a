"""How the int8 fallback's gap is chosen, and what each rule would have given: on a champion's validation and test rows.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/int8_gap.py --params configs/trec.yaml [--logits DIR] [--splits 400]
        [--out bench/results/int8_gap_NAME.json]

Run from the project whose champion was exported (paths are the params file's, read from the current folder). Scores
the validation and test texts with the fp32 ONNX file and with every weight int8 (the export's quantization, without
the fallback), keeps the logits in --logits (read again by a later run instead of scoring), and for each rule: the gap
it picks on the validation rows, the share of rows sent to fp32 and the labels the fallback keeps on validation and
test. Rules are compared on validation alone by choosing on a random half and counting flips on the other half
(--splits times; where a rule picks no gap, int8 alone is counted: the rule before this script then searched for
weights to keep fp32, minutes on a MiniLM); the test columns are the check, never an input to a choice.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import make_parser, print_table, write_result  # noqa: E402

KEEP = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "model.onnx",
        "model.onnx.data")
BAR = 0.995


def score_logits(params, folder: Path) -> dict:
    """fp32 ONNX and every-weight int8 logits of the validation and test texts."""
    import pandas as pd

    from tasks.kinds.classification.quantize import quantize_weights
    from tasks.registry.backends import TextScorer

    source = Path(params.paths.export)
    texts = {split: pd.read_parquet(Path(params.paths.validated) / f"{split}.parquet")["text"].astype(str).tolist()
             for split in ("validation", "test")}
    work = Path(tempfile.mkdtemp(prefix="int8-gap-"))
    try:
        for name in KEEP:
            if (source / name).is_file():
                shutil.copy(source / name, work / name)
        quantize_weights(work)
        fp32, int8 = TextScorer(work, "onnx"), TextScorer(work, "onnx-int8")
        found = {f"{split}_{name}": scorer(rows) for split, rows in texts.items()
                 for name, scorer in (("fp32", fp32), ("int8", int8))}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    import numpy as np

    np.savez(folder / "logits.npz", **found)
    return found


def old_rule(int8, fp32, cap: float = 0.2):
    """The rule until this script (d2dd980): the margin changes' 99th percentile (rounded up to 0.01), widened along
    0.1, 0.25, 0.5, 0.75, 1, 1.5, 2 until 99.75 % of the validation labels hold; none past a fifth of the rows (the
    export then searched for weights to keep fp32)."""
    import numpy as np

    from tasks.kinds.classification.quantize import margin_change
    from tasks.registry.backends import near_tie

    moved = float(np.ceil(100 * float(np.quantile(margin_change(int8, fp32), 0.99)))) / 100
    if not moved:
        return None
    for gap in (moved, *(gap for gap in (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0) if gap > moved)):
        near = near_tie(int8, gap)
        if near.mean() > cap:
            return None
        if np.mean(np.where(near[:, None], fp32, int8).argmax(-1) == fp32.argmax(-1)) >= 0.9975:
            return gap
    return None


def max_rule(int8, fp32):
    """The largest margin change on validation, rounded up to 0.01."""
    import numpy as np

    from tasks.kinds.classification.quantize import margin_change

    return float(np.ceil(100 * margin_change(int8, fp32).max())) / 100 or None


def pooled_rule(target: float):
    """The gap whose rows left to int8 would flip at most `target` of the rows, each row's chance to flip being the
    share of validation rows whose margin change exceeds its int8 margin."""

    def rule(int8, fp32):
        import numpy as np

        from tasks.kinds.classification.quantize import margin_change

        moved = np.sort(margin_change(int8, fp32))
        if not moved[-1]:
            return None
        top = np.sort(int8, axis=-1)[:, -2:]
        margins = top[:, 1] - top[:, 0]
        risk = 1 - np.searchsorted(moved, margins, side="right") / len(moved)
        order = np.argsort(-margins)
        kept = int((np.cumsum(risk[order]) / len(margins) <= target).sum())
        if kept == len(margins):
            return None
        return float(np.floor(100 * margins[order[kept]]) + 1) / 100
    return rule


def local_rule(target: float, pool: float = 0.1, least: int = 50):
    """As pooled_rule, but each row's chance to flip read from the rows at least as near a tie as it is (at least
    `pool` of the rows and `least` rows, the nearest ones): rows near a tie move further under int8 than confident
    ones, so all rows' changes understate theirs."""

    def rule(int8, fp32):
        import numpy as np

        from tasks.kinds.classification.quantize import margin_change

        changes = margin_change(int8, fp32)
        if not changes.any():
            return None
        top = np.sort(int8, axis=-1)[:, -2:]
        margins = top[:, 1] - top[:, 0]
        order = np.argsort(margins, kind="stable")  # nearest a tie first
        ranked_changes = changes[order]
        size = min(len(margins), max(least, int(np.ceil(pool * len(margins)))))
        chances = np.empty(len(margins))
        for rank, row in enumerate(order):
            nearer = ranked_changes[:max(rank + 1, size)]
            chances[row] = float(np.mean(nearer > margins[row]))
        down = order[::-1]  # furthest from a tie first: the rows left to int8
        left = int((np.cumsum(chances[down]) <= target * len(margins)).sum())
        if left == len(margins):
            return None
        return float(np.floor(100 * margins[down[left]]) + 1) / 100
    return rule


def covering(rule):
    """`rule`'s gap, widened where need be to just past the widest int8 margin of a validation row int8 flipped."""

    def widened(int8, fp32):
        import numpy as np

        gap = rule(int8, fp32) or 0.0
        top = np.sort(int8, axis=-1)[:, -2:]
        flipped = (top[:, 1] - top[:, 0])[int8.argmax(-1) != fp32.argmax(-1)]
        if flipped.size:
            gap = max(gap, float(np.floor(100 * flipped.max()) + 1) / 100)
        return gap or None
    return widened


def fallback_flips(int8, fp32, gap):
    """Rows the fallback leaves to int8 whose label differs from fp32's, and the share sent to fp32."""
    import numpy as np

    from tasks.registry.backends import near_tie

    near = near_tie(int8, gap) if gap is not None else np.zeros(len(int8), bool)
    flipped = (int8.argmax(-1) != fp32.argmax(-1)) & ~near
    return int(flipped.sum()), float(near.mean())


def rules():
    from tasks.kinds.classification.quantize import pick_fallback_gap

    return {"old (99th percentile, widened)": old_rule, "max change": max_rule,
            **{f"pooled {target:.2%}": pooled_rule(target) for target in (0.0005, 0.001, 0.0025)},
            **{f"nearer rows {target:.2%}": local_rule(target) for target in (0.0005, 0.001, 0.0025)},
            "old, no share cap": lambda int8, fp32: old_rule(int8, fp32, cap=1.0),
            "nearer rows 0.10%, every flip": covering(local_rule(0.001)),
            "nearer rows 0.25%, every flip": covering(local_rule(0.0025)),
            "pooled 0.10%, every flip": covering(pooled_rule(0.001)),
            "export's own": lambda int8, fp32: pick_fallback_gap(int8, fp32)}


def halves(int8, fp32, rule, splits: int, seed: int = 0) -> dict:
    """The rule chosen on a random half of the validation rows, its flips counted on the other half."""
    import numpy as np

    generator = np.random.default_rng(seed)
    failed, none, shares, rates = 0, 0, [], []
    for _ in range(splits):
        order = generator.permutation(len(int8))
        a, b = order[: len(order) // 2], order[len(order) // 2:]
        gap = rule(int8[a], fp32[a])
        none += gap is None
        flips, share = fallback_flips(int8[b], fp32[b], gap)
        failed += flips > (1 - BAR) * len(b)
        shares.append(share)
        rates.append(flips / len(b))
    return {"half_failed": round(failed / splits, 4), "half_no_gap": round(none / splits, 4), "half_share": round(float(np.mean(shares)), 4),
            "half_flip_rate": round(float(np.mean(rates)), 5)}


def main() -> None:
    import numpy as np

    from tasks.core.config import load_params

    parser = make_parser(__doc__, "")
    parser.add_argument("--params", required=True)
    parser.add_argument("--logits", help="Folder of logits.npz (scored and written there when missing).")
    parser.add_argument("--splits", type=int, default=400)
    args = parser.parse_args()
    params = load_params(Path(args.params))
    name = Path(args.params).stem
    folder = Path(args.logits or f"bench/results/int8_gap/{name}")
    found = dict(np.load(folder / "logits.npz")) if (folder / "logits.npz").is_file() else score_logits(params, folder)
    rows = []
    for rule_name, rule in rules().items():
        gap = rule(found["validation_int8"], found["validation_fp32"])
        row = {"rule": rule_name, "gap": gap}
        for split in ("validation", "test"):
            int8, fp32 = found[f"{split}_int8"], found[f"{split}_fp32"]
            flips, share = fallback_flips(int8, fp32, gap)
            row |= {f"{split}_rows": len(int8), f"{split}_share": round(share, 4), f"{split}_flips": flips,
                    f"{split}_agreement": round(1 - flips / len(int8), 4)}
        rows.append(row | halves(found["validation_int8"], found["validation_fp32"], rule, args.splits))
    int8_alone = {split: round(float(np.mean(found[f"{split}_int8"].argmax(-1) == found[f"{split}_fp32"].argmax(-1))), 4)
                  for split in ("validation", "test")}
    print(f"{name}: every weight int8 alone keeps {int8_alone}")
    shown = ("rule", "gap", "validation_share", "validation_flips", "test_share", "test_flips", "test_agreement",
             "half_failed", "half_no_gap", "half_share")
    print_table(f"fallback gaps on {name}", rows, [(key, key.replace("validation", "val")) for key in shown])
    write_result(args.out or f"bench/results/int8_gap_{name}.json",
                 {"params": args.params, "int8_alone": int8_alone, "rows": rows})


if __name__ == "__main__":
    main()

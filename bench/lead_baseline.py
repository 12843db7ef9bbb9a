"""How far copying the body gets on AESLC: the first sentence, or the first k words, scored as a subject line.

A summarization model that does not beat these has learnt less than "the subject repeats how the email begins".
Scored with lmforge's own ROUGE (rouge-score, stemmed, F x 100, the mean over emails) on the splits named:
    .venv/bin/python bench/lead_baseline.py [--data ../shared/datasets/aeslc] [--splits validation test]
        [--out bench/results/lead_baseline.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from tasks.kinds.seq2seq.metrics import ROUGE, rouge_stats
from tasks.registry.baseline import first_sentence  # the gate's lead baseline, the same cut

WORDS = (4, 6, 8, 12)


def first_words(body: str, k: int) -> str:
    return " ".join(body.split()[:k])


def score_leads(frame: pd.DataFrame) -> dict[str, dict[str, float]]:
    """ROUGE-1/2/L of each lead baseline against the reference subjects."""
    refs = frame["target"].tolist()
    guesses = {"first sentence": [first_sentence(body) for body in frame["source"]]}
    guesses |= {f"first {k} words": [first_words(body, k) for body in frame["source"]] for k in WORDS}
    return {name: dict(zip(ROUGE, (round(float(v), 2) for v in rouge_stats(hyps, refs).mean(axis=0))))
            for name, hyps in guesses.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/datasets/aeslc")
    parser.add_argument("--splits", nargs="+", default=["validation", "test"])
    parser.add_argument("--out", default="bench/results/lead_baseline.json")
    args = parser.parse_args()
    results = {split: score_leads(pd.read_json(Path(args.data) / f"{split}.jsonl", lines=True)) for split in args.splits}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"{'baseline':<18}" + "".join(f"{split + ' ' + name:>22}" for split in args.splits for name in ROUGE))
    for name in results[args.splits[0]]:
        print(f"{name:<18}" + "".join(f"{results[split][name][metric]:>22.2f}" for split in args.splits for metric in ROUGE))


if __name__ == "__main__":
    main()

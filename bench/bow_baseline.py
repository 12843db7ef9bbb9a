"""How far word counts get on the ingested dataset: bag-of-words logistic regression vs the trained model.

Run after `lmforge run` (it reads data/dataset and metrics/eval.json):
    .venv/bin/python bench/bow_baseline.py [--params params.yaml] [--out bench/results/bow_baseline.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score


def score_bag_of_words(dataset: Path, ngrams: tuple[int, int]) -> float:
    """Macro F1 on the test split of a logistic regression on train+validation word counts."""
    train = pd.concat([pd.read_parquet(dataset / f"{name}.parquet") for name in ("train", "validation")])
    test = pd.read_parquet(dataset / "test.parquet")
    vectorizer = CountVectorizer(ngram_range=ngrams)
    model = LogisticRegression(max_iter=5000).fit(vectorizer.fit_transform(train["text"]), train["label"])
    return float(f1_score(test["label"], model.predict(vectorizer.transform(test["text"])), average="macro"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default="bench/results/bow_baseline.json")
    args = parser.parse_args()
    from tasks.core.config import load_params

    params = load_params(args.params)
    dataset = Path(params.paths.dataset)
    results = {"unigram_logreg_f1_macro": score_bag_of_words(dataset, (1, 1)),
               "uni_bigram_logreg_f1_macro": score_bag_of_words(dataset, (1, 2))}
    eval_file = Path(params.paths.metrics) / "eval.json"
    if eval_file.is_file():
        results["lmforge_model_f1_macro"] = json.loads(eval_file.read_text())["eval_f1_macro"]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(f"{'model':<28} {'test macro F1':>13}")
    for name, value in results.items():
        print(f"{name.removesuffix('_f1_macro'):<28} {value:>13.4f}")


if __name__ == "__main__":
    main()

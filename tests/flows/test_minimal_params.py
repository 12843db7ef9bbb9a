"""A user's own data in every kind: a params file with only task, data, model and train.max_steps, written into a
fresh project beside its data file, runs to a registered version with `lmforge run --params FILE`. Nobody edits
dvc.yaml: lmforge lists the file as a pipeline and DVC accepts it; outputs and the registered model are named after
the file, so the four never overwrite each other."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import REPO, invoke, make_project, registry, working_in

pytestmark = pytest.mark.flow
SMALL = {"layers": 1, "hidden_size": 64, "heads": 2, "intermediate_size": 128}


def write_sources(root) -> dict[str, dict]:
    """A data file per kind, made by the built-in generators, and each kind's minimal params."""
    from tasks.kinds.classification.builtin import generate_reviews
    from tasks.kinds.qa.builtin import generate_facts
    from tasks.kinds.seq2seq.builtin import generate_numbers
    from tasks.kinds.causal_lm.builtin import generate_stories

    generate_reviews(600, 3).to_csv(root / "reviews.csv", index=False)
    generate_numbers(600, 3).to_json(root / "pairs.jsonl", orient="records", lines=True)
    generate_facts(400, 3).to_json(root / "facts.jsonl", orient="records", lines=True)
    (root / "stories").mkdir()
    texts = generate_stories(600, 3)["text"].tolist()
    for part in range(3):  # a corpus of plain text files, paragraphs between blank lines
        (root / "stories" / f"part{part}.txt").write_text("\n\n".join(texts[part::3]) + "\n")
    model = {"from_scratch": SMALL}
    return {
        "intents": {"task": "classification", "data": {"source": "reviews.csv"}, "model": model},
        "translate": {"task": "seq2seq", "data": {"source": "pairs.jsonl"}, "model": model},
        "answers": {"task": "qa", "data": {"source": "facts.jsonl"}, "model": model},
        "stories": {"task": "causal_lm", "data": {"source": "stories"}, "model": model},
    }


@pytest.fixture(scope="module")
def runs(prefect_harness, tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("minimal") / "project")
    with working_in(root):
        minimal = write_sources(root)
        results = {}
        for name, params in minimal.items():
            (root / f"{name}.yaml").write_text(yaml.safe_dump(params | {"train": {"max_steps": 20}}))
            # One of them as a script would run it: the summary as JSON on stdout, progress on stderr.
            results[name] = invoke("run", "--params", f"{name}.yaml", *(["--json"] if name == "intents" else []))
        yield root, minimal, results


@pytest.mark.parametrize("name", ["intents", "translate", "answers", "stories"])
def test_a_minimal_params_file_runs_to_a_registered_version(runs, name):
    root, minimal, results = runs
    result = results[name]
    assert result.exit_code == 0, result.output
    assert f"lmforge-{name}" in result.stdout, result.output  # the summary, as text or JSON
    version = registry(root).get_model_version(f"lmforge-{name}", "1")
    assert version.tags["task"] == minimal[name]["task"]
    metrics = json.loads((root / f"metrics/{name}/eval.json").read_text())
    assert "eval_top_output_share" in metrics and "eval_distinct_output_share" in metrics, metrics
    pipelines = yaml.safe_load((root / "pipelines.yaml").read_text())["pipelines"]
    assert pipelines[name]["params"] == f"{name}.yaml" and pipelines[name]["dataset"] == f"data/{name}/dataset"
    resolved = yaml.safe_load((root / f"data/{name}/params.resolved.yaml").read_text())
    assert resolved["promote"]["primary_metric"] == {"classification": "f1_macro", "seq2seq": "bleu", "qa": "f1",
                                                     "causal_lm": "word_perplexity"}[minimal[name]["task"]]


def test_run_prints_its_summary_as_json(runs):
    summary = json.loads(runs[2]["intents"].stdout)
    assert summary["model_name"] == "lmforge-intents" and str(summary["model_version"]) == "1", summary
    assert summary["outcome"] and summary["data_version"] and 0 <= summary["metrics"]["eval_f1_macro"] <= 1, summary


def test_dvc_takes_the_minimal_pipelines_without_an_edit(runs, monkeypatch):
    """dvc.yaml is the shipped one; DVC reads every stage's params from the resolved copies (no MissingParamsError)
    and finds each pipeline's versioned dataset up to date."""
    from dvc.repo import Repo

    root, minimal, _ = runs
    monkeypatch.chdir(root)
    assert (root / "dvc.yaml").read_text() == (REPO / "dvc.yaml").read_text()
    with Repo(str(root)) as repo:
        status = repo.status(targets=[f"ingest@{name}" for name in minimal])
    assert all(f"ingest@{name}" not in status for name in minimal), status


def test_a_plain_text_corpus_is_carved_by_file_and_scored_per_character(runs):
    import pandas as pd

    root, _, _ = runs
    splits = {split: pd.read_parquet(root / f"data/stories/dataset/{split}.parquet") for split in ("train", "test")}
    assert not set(splits["train"]["group"]) & set(splits["test"]["group"]), "a file straddles train and test"
    metrics = json.loads((root / "metrics/stories/eval.json").read_text())
    assert 0 < metrics["eval_bits_per_char"] < 8, metrics

"""A params file holds only what its user changes: the task kind's and the file name's defaults fill the rest,
`lmforge params` says where each value comes from, and `lmforge init` writes a minimal file that runs."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from tasks.core.config import load_params
from tasks.core.errors import LmforgeError
from tests.conftest import REPO, invoke


def write(path, text: str):
    path.write_text(text)
    return path


@pytest.mark.parametrize("task, primary, guarded, algorithm", [
    ("classification", "f1_macro", {"accuracy": 0.01}, "wordpiece"),
    ("seq2seq", "bleu", {"chrf": 1.0}, "bpe"),
    ("qa", "f1", {"exact_match": 1.0}, "wordpiece"),
    ("causal_lm", "word_perplexity", {}, "bpe"),
])
def test_a_minimal_file_takes_its_kind_defaults(root, task, primary, guarded, algorithm):
    params = load_params(write(root / "mine.yaml", f"task: {task}\n"))
    assert (params.promote.primary_metric, params.promote.guarded, params.promote.floors) == (primary, guarded, {})
    assert params.tokenize.algorithm == algorithm


def test_outputs_model_and_schedule_are_named_after_the_file(root):
    params = load_params(write(root / "intents.yaml", "task: classification\n"))
    assert params.paths.dataset == "data/intents/dataset" and params.paths.metrics == "metrics/intents"
    assert params.paths.export == "data/intents/export" and params.paths.lock == "data/.retrain.lock"
    assert (params.registry.model_name, params.schedule.name) == ("lmforge-intents", "lmforge-retrain-intents")
    main = load_params(write(root / "params.yaml", "task: classification\n"))
    assert (main.paths.dataset, main.registry.model_name) == ("data/dataset", "lmforge")
    assert load_params(write(root / "params.qa.yaml", "task: qa\n")).paths.model == "data/qa/model"


def test_what_the_file_says_wins_and_a_metric_dict_is_replaced_whole(root):
    text = "task: seq2seq\npromote: {guarded: {bleu: 2}}\npaths: {model: data/elsewhere/model}\ntokenize: {vocab_size: 300}\n"
    params = load_params(write(root / "pairs.yaml", text))
    assert params.promote.guarded == {"bleu": 2.0}, "the kind's {chrf: 1.0} must not be merged in"
    assert params.promote.primary_metric == "bleu" and params.paths.model == "data/elsewhere/model"
    assert params.tokenize.vocab_size == 300 and params.tokenize.max_target_length == 64


def test_a_minimal_file_still_names_a_bad_key(root):
    with pytest.raises(LmforgeError, match="qa.yaml: promote.primary_metric is invalid: 'accuracy' is not a metric"):
        load_params(write(root / "qa.yaml", "task: qa\npromote: {primary_metric: accuracy}\n"))


def test_params_command_names_the_origin_of_every_value(root):
    write(root / "answers.yaml", "task: qa\ndata: {source: builtin:facts}\ntrain: {epochs: 2}\n")
    result = invoke("params", "--params", "answers.yaml", "--set", "train.learning_rate=0.01", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["key"]: row for row in json.loads(result.stdout)}
    assert rows["train.epochs"] == {"key": "train.epochs", "value": 2, "origin": "file"}
    assert rows["train.learning_rate"]["origin"] == "--set" and rows["train.learning_rate"]["value"] == 0.01
    assert rows["promote.primary_metric"] == {"key": "promote.primary_metric", "value": "f1",
                                              "origin": "default for task qa"}
    assert rows["registry.model_name"]["origin"] == "default from the file name"
    assert rows["train.batch_size"]["origin"] == "default" and rows["train.batch_size"]["value"] == 32
    table = invoke("params", "answers.yaml")  # the older spelling: still read, and the new one named
    assert table.exit_code == 0 and "# default for task qa" in table.stdout
    assert "note: lmforge params answers.yaml is now lmforge params --params answers.yaml" in table.stderr


@pytest.fixture
def project_dir(root):
    from dvc.repo import Repo

    (root / "dvc.yaml").write_text((REPO / "dvc.yaml").read_text())
    subprocess.run(["git", "init", "-q"], check=True)
    Repo.init(str(root)).close()
    return root


def test_init_writes_a_minimal_file_that_loads_and_lists_its_pipeline(project_dir):
    (project_dir / "faq.jsonl").write_text('{"passage": "Tom went to Oslo.", "question": "Where?", "answer": "Oslo"}\n')
    result = invoke("init", "faq", "--task", "qa", "--source", "faq.jsonl")
    assert result.exit_code == 0, result.output
    text = (project_dir / "faq.yaml").read_text()
    assert "the source has no 'context': name one of 'passage', 'question', 'answer'" in text
    raw = yaml.safe_load(text)
    assert set(raw) == {"task", "data", "model", "train"} and raw["data"]["source"] == "faq.jsonl"
    params = load_params(project_dir / "faq.yaml")
    assert params.model.pretrained and params.registry.model_name == "lmforge-faq"
    pipelines = yaml.safe_load((project_dir / "pipelines.yaml").read_text())["pipelines"]
    assert pipelines["faq"]["params"] == "faq.yaml" and (project_dir / pipelines["faq"]["resolved"]).is_file()
    again = invoke("init", "faq", "--task", "qa", "--source", "faq.jsonl")
    assert again.exit_code == 1 and "faq.yaml: exists already" in again.output


@pytest.mark.parametrize("args, expected, code", [
    (["--task", "ranking"], "'ranking' is not one of", 2),  # a usage error: the choices are listed
    (["--source", "nowhere.csv"], "--source nowhere.csv: no such file or folder", 1),
])
def test_init_refuses_bad_input_in_one_sentence(project_dir, args, expected, code):
    result = invoke("init", "bad", *args)
    assert result.exit_code == code and expected in result.output and "Traceback" not in result.output, result.output
    assert not (project_dir / "bad.yaml").exists()

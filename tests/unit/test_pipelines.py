"""Every params file the project ships is a pipeline the flow and DVC both accept, in the project itself (no training):
a params file whose entry in pipelines.yaml drifts from it fails here, not in a user's first run. And a hand-written
minimal params file becomes a pipeline of its own without anyone editing dvc.yaml."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tasks.core.config import load_params
from tasks.data.pipelines import OUTPUTS, find_pipeline, pipeline_entry, read_pipelines, sync_pipeline
from tasks.core.resolved import resolved_values
from tests.conftest import REPO

SHIPPED = sorted(str(p.relative_to(REPO)) for p in [*REPO.glob("params*.yaml"), *REPO.glob("configs/*.yaml")])
STAGES = ("resolve", "ingest", "validate", "tokenize", "train", "evaluate", "register", "promote", "export")


def test_the_project_ships_the_defaults_and_the_benchmark_configs():
    assert {"params.yaml", "params.seq2seq.yaml", "configs/sst2.yaml", "configs/trec.yaml", "configs/banking77.yaml",
            "configs/multi30k.yaml", "configs/squad.yaml", "configs/shakespeare.yaml", "configs/aeslc.yaml"} <= set(SHIPPED)


def has_key(raw: dict, dotted: str) -> bool:
    node = raw
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def check_stages(root, file: str, name: str, resolved: dict) -> None:
    """DVC collects every stage of the pipeline, each runs its step on the file and reads only keys that the
    resolved params hold (DVC refuses to run a stage whose params key is missing)."""
    from dvc.repo import Repo

    entry = read_pipelines(root)[name]
    with Repo(str(root)) as repo:
        for stage_name in STAGES:
            (stage,) = repo.stage.collect(f"{stage_name}@{name}")
            assert stage.cmd == f"python -m tasks.{stage_name} {file}"
            for dependency in stage.params:
                assert dependency.def_path == entry["resolved"]
                for key in dependency.params:
                    assert has_key(resolved, key), f"{entry['resolved']} has no {key}, which {stage_name}@{name} reads"
        (ingest,) = repo.stage.collect(f"ingest@{name}")
        assert [out.def_path for out in ingest.outs] == [entry["dataset"]]


@pytest.mark.parametrize("file", SHIPPED)
def test_flow_and_dvc_accept_each_params_file(file, monkeypatch):
    monkeypatch.chdir(REPO)
    params = load_params(file)
    name = find_pipeline(params, REPO)
    assert name, f"{file} is not in pipelines.yaml; `lmforge run --params {file}` adds it"
    assert read_pipelines(REPO)[name] == pipeline_entry(params, REPO), f"pipelines.yaml is stale for {file}"
    check_stages(REPO, file, name, resolved_values(params, yaml.safe_load((REPO / file).read_text())))


def test_pipelines_never_share_an_output():
    outputs = [item[key] for item in read_pipelines(REPO).values() for key in OUTPUTS]
    assert len(outputs) == len(set(outputs))
    assert len({item["params"] for item in read_pipelines(REPO).values()}) == len(read_pipelines(REPO))


def test_a_minimal_params_file_becomes_a_pipeline_of_its_own(tmp_path, monkeypatch):
    """Only task, data and train.max_steps in the file: lmforge lists it, writes its resolved params and DVC accepts
    every stage; a second minimal file of another kind writes elsewhere and registers another model."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dvc.yaml").write_text((REPO / "dvc.yaml").read_text())
    from dvc.repo import Repo

    subprocess.run(["git", "init", "-q"], check=True)
    Repo.init(str(tmp_path)).close()
    (tmp_path / "pairs.jsonl").write_text('{"source": "a", "target": "b"}\n')
    (tmp_path / "intents.yaml").write_text("task: classification\ndata: {source: builtin:reviews}\ntrain: {max_steps: 5}\n")
    (tmp_path / "translate.yaml").write_text("task: seq2seq\ndata: {source: pairs.jsonl}\n")
    names = [sync_pipeline(load_params(file)) for file in ("intents.yaml", "translate.yaml")]
    assert names == ["intents", "translate"]
    pipelines = read_pipelines(tmp_path)
    assert pipelines["intents"]["dataset"] == "data/intents/dataset" and pipelines["translate"]["inputs"] == "pairs.jsonl"
    for file, name in zip(("intents.yaml", "translate.yaml"), names):
        params = load_params(file)
        resolved = yaml.safe_load((tmp_path / pipelines[name]["resolved"]).read_text())
        assert resolved == resolved_values(params, yaml.safe_load((tmp_path / file).read_text()))
        check_stages(tmp_path, file, name, resolved)
    assert {load_params(f).registry.model_name for f in ("intents.yaml", "translate.yaml")} == \
        {"lmforge-intents", "lmforge-translate"}
    assert load_params("translate.yaml").promote.primary_metric == "bleu"  # the kind's default, not classification's
    assert sync_pipeline(load_params("intents.yaml")) == "intents" and len(read_pipelines(tmp_path)) == 2
    (tmp_path / "translate.yaml").unlink()  # a params file that is gone leaves the list at the next sync
    sync_pipeline(load_params("intents.yaml"))
    assert list(read_pipelines(tmp_path)) == ["intents"]

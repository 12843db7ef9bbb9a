"""Every params file the project ships is a pipeline the flow and DVC both accept, in the project itself (no training):
a params file whose paths drift from dvc.yaml fails here, not in a user's first run."""

from __future__ import annotations

import pytest
import yaml

from tasks.config import load_params
from tasks.pipelines import expected_paths, find_pipeline, read_pipelines
from tests.conftest import REPO

SHIPPED = sorted(str(p.relative_to(REPO)) for p in [*REPO.glob("params*.yaml"), *REPO.glob("configs/*.yaml")])
STAGES = ("ingest", "validate", "tokenize", "train", "evaluate", "register", "promote", "export")


def test_the_project_ships_the_defaults_and_the_benchmark_configs():
    assert {"params.yaml", "params.seq2seq.yaml", "configs/sst2.yaml", "configs/trec.yaml", "configs/banking77.yaml",
            "configs/multi30k.yaml"} <= set(SHIPPED)


@pytest.mark.parametrize("file", SHIPPED)
def test_flow_and_dvc_accept_each_params_file(file, monkeypatch):
    from dvc.repo import Repo

    monkeypatch.chdir(REPO)
    params = load_params(file)
    raw = yaml.safe_load((REPO / file).read_text())
    name = find_pipeline(params, REPO, check_source=True)  # what the flow asks before versioning the dataset
    with Repo(str(REPO)) as repo:
        for stage_name in STAGES:
            (stage,) = repo.stage.collect(f"{stage_name}@{name}")
            assert stage.cmd == f"python -m tasks.{stage_name} {file}"
            assert [dep.def_path for dep in stage.params] == [file]
            for key in stage.params[0].params:  # DVC refuses to run a stage whose params key the file lacks
                assert has_key(raw, key), f"{file} has no {key}, which dvc.yaml's {stage_name}@{name} reads"
        (ingest,) = repo.stage.collect(f"ingest@{name}")
        assert [out.def_path for out in ingest.outs] == [params.paths.dataset]


def has_key(raw: dict, dotted: str) -> bool:
    node = raw
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_pipelines_never_share_an_output():
    outputs = [path for item in read_pipelines(REPO).values() for path in expected_paths(item).values()]
    assert len(outputs) == len(set(outputs))
    assert len({item["params"] for item in read_pipelines(REPO).values()}) == len(read_pipelines(REPO))

import pytest
import yaml

from tasks.config import load_params, matches_params_file
from tasks.errors import LmforgeError
from tasks.ingest import ingest_dataset
from tasks.versioning import read_out_hash, version_output


def test_version_records_only_what_the_params_file_made(project):
    params = load_params("params.yaml", ["data.sample.rows=300"])
    ingest_dataset(load_params("params.yaml"))
    recorded = version_output(load_params("params.yaml"), record=True)
    assert recorded.endswith(".dir") and read_out_hash("data/dataset") == recorded

    assert not matches_params_file(params, "data")
    ingest_dataset(params)
    other = version_output(params, record=False)
    assert other != recorded
    assert read_out_hash("data/dataset") == recorded, "dvc.lock must keep params.yaml's version"
    pushed = {p.parent.name + p.name for p in (project / "data/remote").rglob("*.dir")}
    assert {recorded.removesuffix(".dir"), other.removesuffix(".dir")} <= {p.removesuffix(".dir") for p in pushed}


def test_same_bytes_same_version(project):
    ingest_dataset(load_params("params.yaml"))
    first = version_output(load_params("params.yaml"), record=True)
    ingest_dataset(load_params("params.yaml"))
    assert version_output(load_params("params.yaml"), record=True) == first
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    assert lock["stages"]["ingest@main"]["outs"][0]["md5"] == first


def test_output_outside_dvc_yaml_is_one_sentence(project):
    with pytest.raises(LmforgeError, match="paths.validation is data/elsewhere, but dvc.yaml's pipeline main writes"):
        version_output(load_params("params.yaml", ["paths.validation=data/elsewhere"]), record=False)
    other = project / "other.yaml"
    other.write_text((project / "params.yaml").read_text().replace("data/dataset", "data/x/dataset"))
    with pytest.raises(LmforgeError, match="other.yaml: no pipeline of dvc.yaml reads this params file or writes"):
        version_output(load_params(other), record=False)

import pytest
import yaml

from tasks.core.config import load_params, matches_params_file
from tasks.core.errors import LmforgeError
from tasks.ingest import ingest_dataset
from tasks.data.versioning import read_out_hash, version_output


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
    assert lock["stages"]["ingest@params"]["outs"][0]["md5"] == first  # params.yaml's pipeline, listed by lmforge


def test_output_moved_by_set_or_shared_is_one_sentence(project):
    with pytest.raises(LmforgeError, match="--set paths.validation: the run would write data/elsewhere, but the "
                                           "pipeline of params.yaml writes data/validation"):
        version_output(load_params("params.yaml", ["paths.validation=data/elsewhere"]), record=False)
    other = project / "other.yaml"  # a copy that moves only its dataset: the rest would overwrite params.yaml's
    other.write_text((project / "params.yaml").read_text().replace("data/dataset", "data/x/dataset"))
    with pytest.raises(LmforgeError, match="other.yaml: writes data/x/dataset .* that the params file params.yaml "
                                           "writes too"):
        version_output(load_params(other), record=False)


@pytest.mark.parametrize("url", ["../blocked/remote", "http://127.0.0.1:9/remote"], ids=["unwritable", "unreachable"])
def test_a_remote_that_refuses_leaves_the_push_pending_for_the_next_run(project, capsys, url):
    """A read-only (here: a file where its folder should be) or unreachable remote does not stop ingest; the version
    stays in the cache, the marker makes the next run go through ingest, whose push then clears it."""
    from tasks.data.freshness import find_unchanged_inputs
    from tasks.data.versioning import read_pending

    (project / "blocked").write_text("a file where the remote's folder should be")
    config = project / ".dvc" / "config"
    original = config.read_text()
    config.write_text(original.replace("../data/remote", url))
    params = load_params("params.yaml")
    ingest_dataset(params)
    version = version_output(params, record=True)
    pending = read_pending(params)
    assert pending and pending["data_version"] == version, pending
    assert f"did not take data version {version}" in capsys.readouterr().err
    assert find_unchanged_inputs(params) is None
    assert not list((project / "data").glob("remote/**/*.dir"))

    config.write_text(original)
    assert version_output(params, record=True) == version and read_pending(params) is None
    assert list((project / "data").glob("remote/**/*.dir")), "the next push put the version on the remote"


def test_a_lost_cache_comes_back_from_the_remote_with_dvc_pull(project):
    import shutil

    from dvc.repo import Repo

    params = load_params("params.yaml")
    ingest_dataset(params)
    version = version_output(params, record=True)
    before = {path.name: path.read_bytes() for path in (project / "data/dataset").iterdir()}
    shutil.rmtree(project / ".dvc" / "cache")
    shutil.rmtree(project / "data" / "dataset")
    with Repo(str(project)) as repo:
        repo.pull(targets=["ingest@params"])
    assert {path.name: path.read_bytes() for path in (project / "data/dataset").iterdir()} == before
    assert read_out_hash("data/dataset") == version

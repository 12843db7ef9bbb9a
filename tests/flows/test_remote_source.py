"""A params file whose data.source is a URL (served on 127.0.0.1, pinned by data.sha256) runs to a registered version
through `lmforge run`, with the digest recorded on the run and the version; run again with the server stopped, it is
skipped as unchanged: the copy fetched into data/<name>/source/ is the input, and nothing is requested again."""

from __future__ import annotations

import hashlib
import json

import pytest
import yaml

from tests.conftest import invoke, make_project, registry, working_in
from tests.unit.test_data_sources_remote import Server

pytestmark = pytest.mark.flow


@pytest.fixture(scope="module")
def runs(prefect_harness, tmp_path_factory):
    from tasks.kinds.classification.builtin import generate_reviews

    scratch = tmp_path_factory.mktemp("remote")
    (scratch / "www").mkdir()
    generate_reviews(600, 3).to_csv(scratch / "www" / "reviews.csv", index=False)
    digest = hashlib.sha256((scratch / "www" / "reviews.csv").read_bytes()).hexdigest()
    server = Server(scratch / "www")
    root = make_project(scratch / "project")
    params = {"task": "classification", "data": {"source": f"{server.url}/reviews.csv", "sha256": digest},
              "model": {"from_scratch": {"layers": 1, "hidden_size": 64, "heads": 2, "intermediate_size": 128}},
              "train": {"max_steps": 20}, "promote": {"serving_check": {"enabled": False}}}
    with working_in(root):
        (root / "remote.yaml").write_text(yaml.safe_dump(params))
        first = invoke("run", "--params", "remote.yaml", "--json")
        aliases = registry(root).get_registered_model("lmforge-remote").aliases
        mismatch = invoke("run", "--params", "remote.yaml", "--set", f"data.sha256={'f' * 64}")
        server.stop()
        again = invoke("run", "--params", "remote.yaml")
        down = invoke("run", "--params", "remote.yaml", "--set", f"data.source={server.url}/other.csv")
    yield root, digest, first, again, {"mismatch": mismatch, "down": down, "aliases": aliases}


def test_a_url_source_runs_with_its_digest_recorded(runs):
    root, digest, first, *_ = runs
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    version = registry(root).get_model_version("lmforge-remote", "1")
    assert version.tags["data_revision"] == f"sha256:{digest}" and version.tags["data_version"] == summary["data_version"]
    assert registry(root).get_run(summary["run_id"]).data.tags["data_revision"] == f"sha256:{digest}"
    assert json.loads((root / "data/remote/ingest.json").read_text())["source_revision"] == f"sha256:{digest}"
    entry = yaml.safe_load((root / "pipelines.yaml").read_text())["pipelines"]["remote"]
    assert entry["inputs"] == "data/remote/source" and (root / "data/remote/source/reviews.csv").is_file()


def test_the_same_url_and_digest_is_skipped_with_the_server_stopped(runs):
    _, _, first, again, _ = runs
    assert again.exit_code == 0, again.output
    assert "skipped: nothing changed" in again.stdout and json.loads(first.stdout)["data_version"] in again.stdout


@pytest.mark.parametrize("case, sentence", [
    ("mismatch", "error: data.sha256: the download of http://127.0.0.1"),
    ("down", "error: data.source: http://127.0.0.1"),
])
def test_a_bad_digest_or_a_url_that_does_not_answer_exits_1_and_registers_nothing(runs, case, sentence):
    root, *_, bad = runs
    assert bad[case].exit_code == 1 and sentence in bad[case].output, bad[case].output
    versions = registry(root).search_model_versions("name='lmforge-remote'")
    assert [str(v.version) for v in versions] == ["1"]
    assert registry(root).get_registered_model("lmforge-remote").aliases == bad["aliases"], "no alias moved"

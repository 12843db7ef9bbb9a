"""A model named by Hub id, end to end, as a user with a gated model and a token runs it: `model.pretrained: ORG/NAME`
resolves through huggingface_hub against a stand-in Hub on 127.0.0.1 (tests/hub_server.py), which answers only with
the user's HF_TOKEN; the run records the commit it resolved to (run, version, card, training key), the version is
exported, served by a real `lmforge serve` and rebuilt identical by `lmforge reproduce`. When the Hub's `main` moves
to a new commit, the next run retrains and records the new sha, while a rebuild of the first version still uses the
old one. The token was sent, and shows up nowhere lmforge writes."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import invoke, make_project, registry, working_in
from tests.families import cached_checkpoint, commit_sha
from tests.flows.test_reproduce import commit_all
from tests.hub_fixtures import point_hub

pytestmark = [pytest.mark.flow, pytest.mark.matrix]
NAME = "test-hub"
REPO_ID = "lmforge-tests/tiny-bert"
TOKEN = "hf_lmforge_secret_never_printed"
PARAMS = {"data": {"sample": {"rows": 600}}, "model": {"pretrained": REPO_ID},
          "tokenize": {"max_length": 32}, "train": {"max_steps": 30, "epochs": 1, "learning_rate": 0.001},
          "validate": {"min_rows_per_class": 20},
          # Random weights learn little in 30 steps: this checks the plumbing, not the model (tests/flows/test_retrain.py
          # holds the metric threshold).
          "promote": {"floors": {"f1_macro": 0.0}, "beat_baseline": False, "significance": {"test": "none"},
                      "serving_check": {"enabled": True, "rows": 8}},
          "registry": {"model_name": NAME}}


@pytest.fixture(scope="module")
def hub_runs(prefect_harness, tmp_path_factory):
    from tests.families import build_checkpoint
    from tests.hub_server import FakeHub

    scratch = tmp_path_factory.mktemp("hub")
    root = make_project(scratch / "project", PARAMS)
    commit_all(root)
    hub = FakeHub(token=TOKEN)
    bert = cached_checkpoint("bert", scratch / "checkpoints")
    first = hub.add(REPO_ID, bert, sha=commit_sha(bert, "first"), gated=True)
    with pytest.MonkeyPatch.context() as patch, working_in(root):
        point_hub(patch, scratch / "hf", hub.start())
        patch.setenv("HF_TOKEN", TOKEN)
        try:
            runs = {"first": invoke("run"), "again": invoke("run")}
            runs["reproduce-first"] = invoke("reproduce", f"models:/{NAME}/1", "--json")
            # A new commit on the Hub's main: the same family seeded otherwise, so the weights differ.
            second_folder = build_checkpoint("bert", scratch / "second", seed=1)
            second = hub.add(REPO_ID, second_folder, sha=commit_sha(second_folder, "second"), gated=True)
            runs["moved"] = invoke("run")
            runs["reproduce-first-again"] = invoke("reproduce", f"{NAME}/1", "--json")
        finally:
            hub.stop()
        yield root, runs, first, second, hub, scratch


def test_a_hub_id_trains_registers_and_records_its_commit(hub_runs):
    root, runs, first, *_ = hub_runs
    assert runs["first"].exit_code == 0, runs["first"].output
    version = registry(root).get_model_version(NAME, "1")
    assert version.tags["hub.model.pretrained"] == f"{REPO_ID}@{first} (requested main)"
    run = registry(root).get_run(version.run_id)
    assert run.data.params["model.pretrained"] == f"{REPO_ID}@{first}", "the logged params name the commit"
    assert run.data.tags["hub.model.pretrained"].startswith(f"{REPO_ID}@{first}")
    card = invoke("card", "1")
    assert card.exit_code == 0 and f"- **base model (Hub, at its commit)**: {REPO_ID}@{first}" in card.stdout, card.output


def test_it_is_exported_and_served_before_it_becomes_champion(hub_runs, tmp_path):
    root, runs, *_ = hub_runs
    client = registry(root)
    version = client.get_model_version(NAME, "1")
    assert version.tags["export_onnx"].startswith("passed"), version.tags
    decision = json.loads(open(client.download_artifacts(version.run_id, "promotion/promotion.json", str(tmp_path))).read())
    check = decision["serving_check"]
    assert check["passed"] and check["backend"] == "onnx" and check["agreement"] == 1.0, check
    assert str(client.get_model_version_by_alias(NAME, "champion").version) in ("1", "2")


def test_the_same_commit_again_is_nothing_to_train(hub_runs):
    _, runs, *_ = hub_runs
    assert runs["again"].exit_code == 0 and "skipped: nothing changed" in runs["again"].output, runs["again"].output


def test_a_rebuild_from_the_lineage_is_identical(hub_runs):
    _, runs, *_ = hub_runs
    found = json.loads(runs["reproduce-first"].stdout)
    assert runs["reproduce-first"].exit_code == 0 and found["verdict"] == "identical", found


def test_a_moved_main_retrains_and_a_rebuild_of_the_first_uses_its_own_commit(hub_runs):
    root, runs, first, second, *_ = hub_runs
    assert runs["moved"].exit_code == 0 and "skipped" not in runs["moved"].output, runs["moved"].output
    assert registry(root).get_model_version(NAME, "2").tags["hub.model.pretrained"].startswith(f"{REPO_ID}@{second}")
    meta = json.loads((root / "data/model/lmforge.json").read_text())  # the model folder now holds version 2
    assert meta["params"]["model"]["pretrained"] == f"{REPO_ID}@{second}", "what a rebuild reads names the commit"
    found = json.loads(runs["reproduce-first-again"].stdout)
    assert found["verdict"] == "identical", found  # rebuilt from `first`, which the cache still holds


def test_the_token_was_sent_and_is_nowhere(hub_runs):
    root, runs, _, _, hub, scratch = hub_runs
    assert f"Bearer {TOKEN}" in hub.seen_authorization, "the gated model was fetched with the user's token"
    for name, result in runs.items():
        assert TOKEN not in result.output, name
    # The project (MLflow store, DVC cache, logs, model folders, cards) and the Hub cache lmforge filled.
    found = subprocess.run(["grep", "-rl", TOKEN, str(root), str(scratch / "hf")], capture_output=True, text=True)
    assert found.stdout == "", f"the token was written to {found.stdout}"

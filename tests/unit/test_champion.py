"""Champion moves on a real MLflow store with placeholder versions: manual promote, rollback, records, skip lookup."""

import json

import pytest

from tasks.registry import tracking
from tasks.registry.champion import champion_history, find_unchanged, promote_by_hand, roll_back
from tasks.core.config import load_params
from tasks.core.errors import LmforgeError
from tests.conftest import REPO


@pytest.fixture
def store(tmp_path, monkeypatch):
    """Three registered versions (no weights: these moves never load a model) and their runs."""
    monkeypatch.chdir(tmp_path)
    params = load_params(REPO / "params.yaml", ["registry.model_name=unit-champion"])
    client = tracking.client(params)
    client.create_registered_model("unit-champion")
    for n in range(3):
        run_id = tracking.start_run(params)
        client.create_model_version("unit-champion", f"{client.get_run(run_id).info.artifact_uri}/model", run_id,
                                    tags={"data_version": f"d{n}", "inputs_hash": params.inputs_hash()})
    return params, client


def alias_of(client, params):
    return str(client.get_model_version_by_alias(params.registry.model_name, "champion").version)


def test_manual_promote_moves_the_alias_and_records_who_and_why(store, tmp_path):
    params, client = store
    promote_by_hand(client, params, "1", "first release")
    decision = promote_by_hand(client, params, "3", "hotfix approved by QA")
    assert alias_of(client, params) == "3" and champion_history(client, "unit-champion") == ["1", "3"]
    version = client.get_model_version("unit-champion", "3")
    assert version.tags["promotion_verdict"] == "promoted by hand"
    assert version.tags["promotion_reason"] == "hotfix approved by QA" and version.tags["promotion_by"]
    assert decision["champion_before"] == "1" and decision["champion_after"] == "3"
    artifacts = [a.path for a in client.list_artifacts(version.run_id, "promotion")]
    assert len(artifacts) == 1 and artifacts[0].startswith("promotion/manual-")
    assert json.loads((tmp_path / "data/promotion.json").read_text())["reasons"] == ["hotfix approved by QA"]


def test_manual_promote_refuses_unknown_and_current_versions(store):
    params, client = store
    with pytest.raises(LmforgeError, match="has no version 9"):
        promote_by_hand(client, params, "9", "typo")
    promote_by_hand(client, params, "2", "ok")
    with pytest.raises(LmforgeError, match="already @champion"):
        promote_by_hand(client, params, "2", "again")


def test_rollback_walks_back_through_earlier_champions(store):
    params, client = store
    with pytest.raises(LmforgeError, match="no @champion to roll back"):
        roll_back(client, params, "nothing yet")
    for version in ("1", "2", "3"):
        promote_by_hand(client, params, version, "release")
    decision = roll_back(client, params, "3 misbehaves")
    assert alias_of(client, params) == "2" and decision["champion_before"] == "3"
    assert client.get_model_version("unit-champion", "3").tags["rolled_back"]
    assert client.get_model_version("unit-champion", "2").tags["promotion_verdict"] == "restored by rollback"
    roll_back(client, params, "2 too")
    assert alias_of(client, params) == "1"
    with pytest.raises(LmforgeError, match="no earlier one"):
        roll_back(client, params, "and 1?")
    assert alias_of(client, params) == "1"


def test_unchanged_inputs_are_found_champion_first(store):
    params, client = store
    assert find_unchanged(client, params, "d9") is None
    # Registered but never decided (its run was stopped before promote's verdict): not done, train again.
    assert find_unchanged(client, params, "d1") is None
    client.set_model_version_tag("unit-champion", "1", "promotion_verdict", "rejected")
    assert find_unchanged(client, params, "d0") == "version 1 (rejected)"
    promote_by_hand(client, params, "2", "release")
    assert find_unchanged(client, params, "d1") == "version 2 (@champion)"
    changed = load_params(REPO / "params.yaml", ["registry.model_name=unit-champion", "train.epochs=3"])
    assert find_unchanged(client, changed, "d1") is None


def test_a_failed_serving_check_rejects_and_the_registry_says_why(store):
    from tasks.core.records import ModelVersion
    from tasks.promote import finish_promotion

    params, client = store
    run_id = client.get_model_version("unit-champion", "3").run_id
    decision = {"kind": "automatic", "model_name": "unit-champion", "data_version": "d2", "test_rows": 10,
                "challenger_version": "3", "champion_before": None, "verdict": "promoted", "reasons": ["first model"],
                "metrics": {}, "deltas": {}, "significance": {}, "slices": [], "rule": None}
    serving = {"passed": False, "reason": "the server exited with status 1 before answering", "backend": None,
               "requests": 0}
    result = finish_promotion(params, ModelVersion("unit-champion", "3", "challenger", {}, run_id), decision,
                              "user test", serving)
    assert not result.promoted and result.champion_after is None
    tags = client.get_model_version("unit-champion", "3").tags
    assert tags["promotion_verdict"] == "rejected"
    assert tags["promotion_reason"] == "serving check failed: the server exited with status 1 before answering"
    assert "champion" not in client.get_registered_model("unit-champion").aliases
    recorded = json.loads(open(params.paths.promotion).read())
    assert recorded["serving_check"] == serving and recorded["verdict"] == "rejected"

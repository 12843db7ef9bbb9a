"""`lmforge reproduce` end to end: a version trained and registered in one folder is rebuilt from its commit, data
version and params in another (another PYTHONHASHSEED too) and comes out bit for bit the same; a changed data file
and a changed param are each caught at their stage, and the verdict is tagged on the version."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.conftest import REPO, invoke, make_project, registry, working_in

pytestmark = pytest.mark.flow
NAME = "test-rebuild"
PARAMS = {"data": {"source": "reviews.csv"}, "validate": {"min_rows_per_class": 20},
          "train": {"epochs": 3, "early_stopping_patience": 0}, "registry": {"model_name": NAME}}


def commit_all(root) -> None:
    def git(*args):
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)

    git("add", "-A")
    git("-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-q", "-m", "the project")


@pytest.fixture(scope="module")
def trained(prefect_harness, tmp_path_factory):
    from tasks.kinds.classification.builtin import generate_reviews

    root = make_project(tmp_path_factory.mktemp("rebuild") / "project", PARAMS)
    # The project's own copy of the code, committed (not the link to this checkout the other flow tests use), so a
    # rebuild can show it runs the recorded commit's code rather than whatever the folder holds now.
    (root / "tasks").unlink()
    shutil.copytree(REPO / "tasks", root / "tasks", ignore=shutil.ignore_patterns("__pycache__"))
    commit_all(root)  # the data file stays untracked, as data does: the record's data version stands for it
    generate_reviews(1200, 11).to_csv(root / "reviews.csv", index=False)
    with working_in(root):
        result = invoke("run")
        assert result.exit_code == 0, result.output
        yield root


def reproduce(*args: str):
    result = invoke("reproduce", f"models:/{NAME}/1", "--json", *args)
    return result.exit_code, (json.loads(result.stdout) if result.stdout.strip().startswith("{") else result.output)


def test_a_rebuild_in_another_folder_is_identical_and_tagged(trained):
    code, found = reproduce("--check-determinism")
    assert code == 0 and found["verdict"] == "identical", found
    assert found["compared"]["files"] >= 4 and found["compared"]["predictions"] > 100 and found["compared"]["metrics"] >= 4
    tag = registry(trained).get_model_version(NAME, "1").tags["reproduce"]
    assert tag.startswith("identical (")
    card = invoke("card", "1")  # the answer is a line of the version's model card too, which still holds
    assert card.exit_code == 0 and f"- **rebuilt from its lineage**: {tag}" in card.stdout, card.output
    # A second training with another hash seed retrains the tokenizer alike; only the thread count may move the weights.
    assert not found["determinism"]["first_difference"].startswith("tokenize"), found["determinism"]


def test_a_changed_data_file_is_caught_at_ingest(trained):
    source = trained / "reviews.csv"
    before = source.read_text()
    lines = before.splitlines()
    lines[5] = lines[5].replace("positive", "negative") if "positive" in lines[5] else lines[5] + " indeed"
    source.write_text("\n".join(lines) + "\n")
    try:
        code, found = reproduce()
    finally:
        source.write_text(before)
    assert code == 3 and (found["verdict"], found["stage"]) == ("differs", "ingest"), found
    assert ".parquet" in found["detail"] and "from the DVC cache" in found["detail"]
    assert registry(trained).get_model_version(NAME, "1").tags["reproduce"].startswith("differs at ingest")


def test_a_changed_param_is_caught_where_it_changes_the_model(trained):
    # Whatever the tests before left (or none, run alone): a what-if is not the version's answer, so the tag stays.
    before = registry(trained).get_model_version(NAME, "1").tags.get("reproduce")
    code, found = reproduce("--change", "train.learning_rate=0.002")
    assert code == 3 and (found["verdict"], found["stage"]) == ("differs", "train"), found
    assert "model.safetensors" in found["detail"] and "train.learning_rate 0.0008 recorded, 0.002 rebuilt" in found["what_if"]
    assert registry(trained).get_model_version(NAME, "1").tags.get("reproduce") == before


def test_a_version_that_is_not_registered_is_one_sentence(trained):
    result = invoke("reproduce", "9")  # the params file's model, by number
    assert result.exit_code == 1 and f"{NAME} has no version 9; `lmforge models` lists" in result.output, result.output


def test_a_rebuild_runs_the_recorded_commits_code_not_the_folders(trained):
    """The code changed and committed after training (another seed: another model) is not what a rebuild runs."""
    train = trained / "tasks" / "train.py"
    before = train.read_text()
    assert "set_seed(params.project.seed)" in before
    train.write_text(before.replace("set_seed(params.project.seed)", "set_seed(params.project.seed + 1)"))
    commit_all(trained)
    try:
        code, found = reproduce()
    finally:
        train.write_text(before)
        commit_all(trained)
    assert code == 0 and found["verdict"] == "identical", found

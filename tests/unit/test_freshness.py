"""The CLI's answer to "is there anything to do?", from ingest's stamp: any change to what ingest reads means the flow."""

import os

from filelock import FileLock

from tasks.core.config import load_params
from tasks.data.freshness import find_unchanged_inputs, fingerprint_inputs, write_stamp
from tests.conftest import REPO


def make_params(root, *overrides):
    if not (root / "reviews.csv").exists():
        (root / "reviews.csv").write_text("text,label\nfine,positive\n")
    return load_params(REPO / "params.yaml", [f"data.source={root / 'reviews.csv'}", *overrides])


def test_fingerprint_follows_the_source_the_dataset_params_and_nothing_else(root):
    params = make_params(root)
    first = fingerprint_inputs(params)
    assert fingerprint_inputs(params) == first
    assert fingerprint_inputs(make_params(root, "train.epochs=2")) == first, "training params do not change the data"
    assert fingerprint_inputs(make_params(root, "project.seed=1")) != first
    source = root / "reviews.csv"
    stat = source.stat()
    source.write_text("text,label\nfine,neutral\n")
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # an edit the clock cannot see still changes the size
    assert fingerprint_inputs(params) != first


def test_no_stamp_a_changed_source_or_a_held_lock_mean_the_flow_decides(root, monkeypatch):
    params = make_params(root)
    asked = []
    monkeypatch.setattr("tasks.registry.champion.find_unchanged", lambda client, p, version: asked.append(version) or "version 1")
    monkeypatch.setattr("tasks.registry.tracking.client", lambda p: None)
    assert find_unchanged_inputs(params) is None, "no stamp yet"
    write_stamp(params, fingerprint_inputs(params), "abc.dir")
    assert find_unchanged_inputs(params).version == "version 1" and asked == ["abc.dir"]
    with FileLock(params.paths.lock):
        assert find_unchanged_inputs(params) is None, "another run holds the lock"
    (root / "reviews.csv").write_text("text,label\nfine,positive\nbad,negative\n")
    assert find_unchanged_inputs(params) is None, "the source changed"

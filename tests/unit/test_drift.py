"""The monitor's tests on numbers the test controls: no alarm between samples of one distribution, an alarm on a
shift, and the witness naming the shifted rows."""

import numpy as np

from tasks.monitoring.drift import distribution_test, label_test, mmd_test


def test_embedding_mmd_tells_a_shift_from_a_resample():
    rng = np.random.default_rng(0)
    reference, same = rng.normal(size=(200, 32)), rng.normal(size=(200, 32))
    shifted = np.vstack([rng.normal(size=(150, 32)), rng.normal(size=(50, 32)) + 1.5])
    calm, _ = mmd_test(reference, same, permutations=200, seed=1)
    alarm, witness = mmd_test(reference, shifted, permutations=200, seed=1)
    assert calm.p_value > 0.05 and alarm.p_value < 0.01 and alarm.statistic > calm.statistic
    assert set(witness.argsort()[::-1][:40]) <= set(range(150, 200))  # the most drifted rows are the shifted ones


def test_a_label_prior_shift_and_a_score_shift_are_caught():
    reference = ["positive"] * 50 + ["negative"] * 50
    assert label_test(reference, ["positive"] * 50 + ["negative"] * 50).p_value > 0.5
    assert label_test(reference, ["positive"] * 70 + ["negative"] * 30).p_value < 0.01  # a 20-point prior shift
    assert label_test(reference, ["positive"] * 100).p_value < 0.01
    rng = np.random.default_rng(2)
    scores = rng.beta(8, 2, 300)
    assert distribution_test(scores, rng.beta(8, 2, 300)).p_value > 0.05
    assert distribution_test(scores, rng.beta(3, 2, 300)).p_value < 0.01


def test_a_champion_without_a_data_version_is_named(root):
    from types import SimpleNamespace

    import pytest

    from tasks.core.config import load_params
    from tasks.core.errors import LmforgeError
    from tasks.monitor import read_reference

    (root / "params.yaml").write_text("task: classification\n")
    version = SimpleNamespace(name="lmforge-reviews", version="3", tags={})
    with pytest.raises(LmforgeError, match="version 3 of lmforge-reviews has no data_version tag"):
        read_reference(load_params("params.yaml"), version)


def test_the_reference_is_read_by_the_datasets_own_column_names_whatever_the_source_called_them(root, monkeypatch):
    """A data version keeps canonical columns (text, question, context, ...); the source's names (data.text_column:
    sentence, as SST-2's) are gone from it, so the reference must not look for them."""
    from types import SimpleNamespace

    import pandas as pd

    import tasks.data.versioning
    from tasks.core.config import load_params
    from tasks.monitor import read_reference

    pd.DataFrame({"question": ["who?", "when?"], "context": ["ann did.", "at noon."], "answer": ["ann", "noon"],
                  "split": "test"}).to_parquet(root / "test.parquet")
    monkeypatch.setattr(tasks.data.versioning, "find_version_file", lambda version, name: root / name)
    version = SimpleNamespace(name="lmforge-qa", version="1", tags={"data_version": "abc.dir"})
    (root / "params.yaml").write_text("task: qa\ndata: {question_column: query, context_column: passage}\n")
    assert read_reference(load_params("params.yaml"), version) == ["who? || ann did.", "when? || at noon."]
    (root / "params.yaml").write_text("task: classification\ndata: {text_column: sentence}\n")
    pd.DataFrame({"text": ["fine film"], "label": ["positive"], "split": "test"}).to_parquet(root / "test.parquet")
    assert read_reference(load_params("params.yaml"), version) == ["fine film"]

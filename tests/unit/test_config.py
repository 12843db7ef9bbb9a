import pytest

from tasks.core.config import load_params
from tasks.core.errors import LmforgeError
from tests.conftest import REPO


def test_default_params_load():
    params = load_params(REPO / "params.yaml")
    assert params.data.source == "builtin:reviews"
    assert params.validate_.min_rows_per_class > 0


def test_override_sets_typed_value():
    params = load_params(REPO / "params.yaml", ["train.epochs=2", "data.labels=[a, b]"])
    assert params.train.epochs == 2
    assert params.data.labels == ["a", "b"]


@pytest.mark.parametrize("override, key", [
    ("data.sourse=x.csv", "data.sourse"),
    ("train.epochs=lots", "train.epochs"),
    ("train.batch_size=0", "train.batch_size"),
    ("model.from_scratch.heads=5", "model.from_scratch"),
    ("serve.canary.share=1.5", "serve.canary.share"),
    ("serve.canary.share=-0.1", "serve.canary.share"),
    ("serve.canary={share: 0.1, sticky: true}", "serve.canary.sticky"),
])
def test_bad_value_names_its_key(override, key):
    with pytest.raises(LmforgeError, match=key.replace(".", r"\.")):
        load_params(REPO / "params.yaml", [override])


def test_unknown_top_level_key_in_file(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("trian:\n  epochs: 2\n")
    with pytest.raises(LmforgeError, match="trian is not a known key"):
        load_params(bad)


def test_pretrained_path_must_hold_a_model(tmp_path):
    with pytest.raises(LmforgeError, match="model.pretrained .*does not exist"):
        load_params(REPO / "params.yaml", [f"model.pretrained={tmp_path / 'nowhere'}"])
    with pytest.raises(LmforgeError, match="model.pretrained .*holds no config.json"):
        load_params(REPO / "params.yaml", [f"model.pretrained={tmp_path}"])
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"pickled")
    with pytest.raises(LmforgeError, match="model.pretrained .*holds no .safetensors weights .*pickled ones .* refused"):
        load_params(REPO / "params.yaml", [f"model.pretrained={tmp_path}"])


def test_missing_params_file(tmp_path):
    with pytest.raises(LmforgeError, match="no such params file"):
        load_params(tmp_path / "absent.yaml")


def test_section_hash_changes_with_its_section_only():
    base = load_params(REPO / "params.yaml")
    other = load_params(REPO / "params.yaml", ["train.epochs=3"])
    assert base.section_hash("tokenize") == other.section_hash("tokenize")
    assert base.section_hash("train") != other.section_hash("train")


@pytest.mark.parametrize("value", ["../elsewhere", "/tmp/lmforge-out", "data/../../x", "."])
def test_output_paths_outside_the_project_are_refused(value):
    with pytest.raises(LmforgeError, match=r"--set: paths.model is invalid: .* resolves to .*(outside the project|the project folder itself).*such as data/model.$"):
        load_params(REPO / "params.yaml", [f"paths.model={value}"])
    assert load_params(REPO / "params.yaml", ["paths.model=data/../data/other"]).paths.model == "data/../data/other"


def test_a_monitor_that_could_never_report_drift_is_refused():
    """The embedding test's smallest p-value is 1/(permutations+1): at 99 permutations and alpha 0.01 it never drifts."""
    with pytest.raises(LmforgeError, match=r"monitor is invalid: permutations 99 can never report drift at alpha 0.01 "
                                           r"\(the smallest p-value is 1/100\); set monitor.permutations to at least 100"):
        load_params(REPO / "params.yaml", ["monitor.permutations=99"])
    assert load_params(REPO / "params.yaml", ["monitor.permutations=100"]).monitor.permutations == 100
    assert load_params(REPO / "params.yaml", ["monitor.permutations=20", "monitor.alpha=0.05"]).monitor.alpha == 0.05

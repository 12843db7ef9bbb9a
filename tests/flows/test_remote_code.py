"""A Hub model that ships its own modelling code (its config's auto_map), trusted by `model.trust_remote_code: true` in
the params file: resolved with its Python files, trained, evaluated, registered with the trust recorded on the
version, exported and served, its code loaded by every step after train because its training params trusted it.
The same model without the key is refused before anything runs (tests/unit/test_hub_models.py)."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from tests.conftest import invoke, make_project, registry, working_in
from tests.families import cached_checkpoint, install_in_hub_cache
from tests.hub_fixtures import point_hub

pytestmark = [pytest.mark.flow, pytest.mark.matrix]
NAME = "test-remote-code"
CONFIGURATION = '''from transformers import GPT2Config


class TinyConfig(GPT2Config):
    model_type = "lmforge-tiny-gpt"
'''
MODELING = '''from transformers import GPT2LMHeadModel, GPT2Model

from .configuration_tiny import TinyConfig


class TinyModel(GPT2Model):
    config_class = TinyConfig


class TinyForCausalLM(GPT2LMHeadModel):
    config_class = TinyConfig
'''


def make_custom_checkpoint(folder, base) -> None:
    """A GPT-2 whose config names a model type transformers does not know, with the classes in the repo's own files."""
    shutil.copytree(base, folder)
    config = json.loads((folder / "config.json").read_text())
    config |= {"model_type": "lmforge-tiny-gpt", "architectures": ["TinyForCausalLM"],
               "auto_map": {"AutoConfig": "configuration_tiny.TinyConfig", "AutoModel": "modeling_tiny.TinyModel",
                            "AutoModelForCausalLM": "modeling_tiny.TinyForCausalLM"}}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "configuration_tiny.py").write_text(CONFIGURATION)
    (folder / "modeling_tiny.py").write_text(MODELING)


def test_a_trusted_model_with_its_own_code_trains_registers_and_serves(prefect_harness, tmp_path):
    custom = tmp_path / "custom"
    make_custom_checkpoint(custom, cached_checkpoint("gpt2", tmp_path / "checkpoints"))
    root = make_project(tmp_path / "project")
    params = {"task": "causal_lm", "data": {"sample": {"rows": 300}}, "tokenize": {"block_size": 32},
              "model": {"pretrained": "lmforge-tests/tiny-custom", "trust_remote_code": True},
              "train": {"max_steps": 10}, "evaluate": {"max_new_tokens": 8},
              "promote": {"beat_baseline": False, "floors": {}, "significance": {"test": "none"},
                          "serving_check": {"enabled": True, "rows": 4}},
              "registry": {"model_name": NAME}}
    (root / "custom.yaml").write_text(yaml.safe_dump(params))
    with pytest.MonkeyPatch.context() as patch, working_in(root):
        point_hub(patch, tmp_path / "hf")
        install_in_hub_cache(custom, tmp_path / "hf", "lmforge-tests/tiny-custom")
        result = invoke("run", "--params", "custom.yaml")
        assert result.exit_code == 0, result.output[-4000:]
        version = registry(root).get_model_version(NAME, "1")
        assert version.tags["trust_remote_code"] == "true"
        assert version.tags["hub.model.pretrained"].startswith("lmforge-tests/tiny-custom@")
        decision = json.loads((root / "data/custom/promotion.json").read_text())
        assert decision["verdict"] == "promoted" and decision["serving_check"]["passed"], decision
        # Its export loads and traces the model's own classes like a built-in family's; served from it.
        parity = json.loads((root / "data/custom/export/parity.json").read_text())
        assert parity["onnx"]["status"] == "passed", parity
        assert decision["serving_check"]["backend"] == "onnx", decision["serving_check"]
        assert (root / "data/custom/model/modeling_tiny.py").is_file(), "the trained folder keeps the code it runs"
        answer = invoke("predict", "--params", "custom.yaml", "--json", "mia had five")
        assert answer.exit_code == 0, answer.output[-3000:]
        assert answer.stdout.lstrip().startswith("{"), answer.stdout[-3000:]
        assert json.loads(answer.stdout)["predictions"][0]["output"] is not None
        # transformers asks on the terminal when a folder's code is loaded without a word on trusting it: never here.
        assert "run the custom code?" not in result.output + answer.output

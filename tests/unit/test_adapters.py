"""A LoRA adapter kept apart from its base (tasks/decoders/adapters.py): saved alone with its base named, loaded on
that base (shared by every adapter of a process), merged for export, and refused in one sentence when its base is
missing or changed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")


def make_base(folder: Path) -> Path:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=500, n_positions=64, n_embd=128, n_layer=2, n_head=4, bos_token_id=0,
                        eos_token_id=0)
    GPT2LMHeadModel(config).save_pretrained(str(folder), safe_serialization=True)
    return folder


def make_adapter(base: Path, out: Path, seed: int) -> Path:
    """An adapter whose update is not zero (as after training), saved as train saves one kept apart."""
    from transformers import AutoModelForCausalLM

    from tasks.core.config import LoraParams
    from tasks.decoders.build import LORA_MERGE_ATTR, attach_lora, save_decoder

    model = attach_lora(AutoModelForCausalLM.from_pretrained(str(base)), LoraParams(r=8))
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.2)
    save_decoder(SimpleNamespace(model=model, **{LORA_MERGE_ATTR: False}), out)
    return out


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("adapters")
    base = make_base(root / "base")
    return base, make_adapter(base, root / "one", 1), make_adapter(base, root / "two", 2)


def storage_bytes(*models) -> int:
    """Bytes of the distinct tensors the models hold: a tensor two models share is counted once."""
    seen: dict[int, int] = {}
    for model in models:
        for tensor in [*model.parameters(), *model.buffers()]:
            seen[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
    return sum(seen.values())


def test_an_adapter_is_saved_alone_naming_its_base(folders):
    from tasks.decoders.adapters import hash_weights

    base, one, _ = folders
    files = {path.name for path in one.iterdir()} - {"README.md"}  # PEFT's model card, when it writes one
    assert files == {"adapter_config.json", "adapter_model.safetensors", "lmforge_base.json"}
    record = json.loads((one / "lmforge_base.json").read_text())
    assert record == {"folder": str(base.resolve()), "sha256": hash_weights(base), "vocab_size": 500}
    adapter = sum(path.stat().st_size for path in one.iterdir())
    assert adapter < 0.05 * (base / "model.safetensors").stat().st_size


def test_a_hub_snapshot_base_is_named_by_id_and_commit(tmp_path):
    from tasks.decoders.adapters import describe_base

    snapshot = tmp_path / "hub" / "models--lmforge-test--tiny-gpt2" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    assert describe_base(snapshot) == {"repo_id": "lmforge-test/tiny-gpt2", "revision": "a" * 40}


def test_adapters_on_one_base_share_it_and_answer_as_merged(folders):
    from tasks.decoders.adapters import load_decoder

    base, one, two = folders
    ids = torch.tensor([[5, 17, 42, 99, 3]])
    first, second = load_decoder(one), load_decoder(two)
    merged = load_decoder(one, merged=True)
    with torch.no_grad():
        torch.testing.assert_close(first(input_ids=ids).logits, merged(input_ids=ids).logits, rtol=1e-4, atol=1e-4)
        assert not torch.allclose(first(input_ids=ids).logits, second(input_ids=ids).logits)  # each its own update
    assert not any("lora" in name for name, _ in merged.named_parameters())
    assert storage_bytes(first, second) <= 1.2 * storage_bytes(first)


def test_an_export_reads_the_adapter_merged_into_a_folder_of_its_own(folders):
    from transformers import AutoModelForCausalLM

    from tasks.decoders.adapters import merged_folder

    _, one, _ = folders
    with merged_folder(one) as merged:
        assert (merged / "model.safetensors").is_file() and not (merged / "lmforge_base.json").exists()
        AutoModelForCausalLM.from_pretrained(str(merged), use_safetensors=True)
    assert not merged.exists()


def test_an_adapter_whose_base_is_missing_or_changed_is_one_sentence(folders, tmp_path):
    from tasks.core.errors import LmforgeError
    from tasks.decoders.adapters import load_decoder

    base, one, _ = folders
    moved = tmp_path / "moved"
    shutil.copytree(base, moved)
    adapter = make_adapter(moved, tmp_path / "adapter", 3)
    shutil.rmtree(moved)
    with pytest.raises(LmforgeError, match=r"needs its base model folder .*moved, which is missing"):
        load_decoder(adapter)
    make_base(moved)
    with torch.no_grad():  # the same architecture at another revision: other weights
        from transformers import AutoModelForCausalLM
        other = AutoModelForCausalLM.from_pretrained(str(moved))
        other.lm_head.weight.add_(0.01)
        other.save_pretrained(str(moved), safe_serialization=True)
    with pytest.raises(LmforgeError, match="has other weights than the LoRA adapter"):
        load_decoder(adapter)

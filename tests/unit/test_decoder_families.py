"""Every decoder family (tests/families.py: GPT-2, Llama, Qwen2, Mistral, Phi, GPT-NeoX, built tiny with their own
tokenizers, most without a pad token) exports its decoder step with past keys and values, passes the parity check,
and generates on ONNX Runtime what eager PyTorch generates, for single prompts and left-padded batches. Beside them:
tokenizers without a pad token, prompts that start as the training texts start, and LoRA's per-family targets."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tasks.core.config import load_params
from tests.conftest import REPO
from tests.families import DECODERS, cached_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (tests/conftest.py)

PROMPTS = ["on monday mia went", "tom", "every friday pip the dog barks at", "leo had seven", "zoe counted the shells",
           "max", "on sunday ava went to the harbour with", "ida has a"]




@pytest.fixture(scope="module")
def params():
    return load_params(REPO / "params.causal_lm.yaml", ["evaluate.max_new_tokens=10", "evaluate.batch_size=8"])


def sharpen(folder, seed: int = 0) -> None:
    """Redraw the matrices wide (std 0.3, not 0.02): the random model's next token then depends strongly on the
    prompt, its positions and its mask, so that a padding or position error changes the greedy tokens."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(folder), use_safetensors=True)
    torch.manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() == 2:
                parameter.normal_(0, 0.3)
    model.save_pretrained(str(folder), safe_serialization=True)


def export_folder(params, folder, out) -> dict:
    from tasks.export import describe_error
    from tasks.kinds.causal_lm.builtin import generate_stories
    from tasks.kinds.causal_lm.export import export_decoder

    out.mkdir()
    for path in folder.iterdir():
        shutil.copy2(path, out / path.name)
    return export_decoder(params, folder, out, generate_stories(24, 5)["text"].tolist(), describe_error)


@pytest.fixture(scope="module", params=DECODERS)
def exported(request, params, tmp_path_factory):
    """(family, its sharpened checkpoint, its export folder, the export record), once per family."""
    root = tmp_path_factory.mktemp(request.param)
    folder = shutil.copytree(cached_checkpoint(request.param, tmp_path_factory.getbasetemp() / "families"),
                             root / "model")
    sharpen(folder)
    return request.param, folder, root / "export", export_folder(params, folder, root / "export")


@pytest.mark.matrix  # trains and exports every family: make test-matrix
def test_each_family_exports_and_passes_parity(exported):
    family, _, out, record = exported
    assert record["family"] == family
    onnx = record["onnx"]
    assert onnx["status"] == "passed" and onnx["identical"] == 1.0, onnx
    assert onnx["max_abs_logit_diff"] < 1e-3, onnx
    assert (out / "model.onnx").is_file() and onnx["files"] == ["model.onnx"]
    # int8 may flip greedy tokens of a random model: whatever it finds, it is measured and judged by its bar.
    int8 = record["onnx-int8"]
    assert int8["status"] == ("passed" if int8["identical"] >= int8["min_identical"] else "failed"), int8
    assert record["torch-export"]["status"] == "not built"


@pytest.mark.matrix  # trains and exports every family: make test-matrix
def test_onnx_greedy_equals_eager_for_single_prompts_and_left_padded_batches(exported, params):
    from tasks.kinds.causal_lm.evaluate import load_causal_lm
    from tasks.decoders.generate import generate_texts
    from tasks.kinds.causal_lm.onnx import OnnxGenerator

    family, folder, out, _ = exported
    model, tokenizer = load_causal_lm(folder)
    alone = params.evaluate.model_copy(update={"batch_size": 1})
    eager_alone = [generate_texts(model, tokenizer, [prompt], alone)[0] for prompt in PROMPTS]
    assert len(set(eager_alone)) > len(PROMPTS) // 2 and all(eager_alone), eager_alone  # the prompts matter
    assert generate_texts(model, tokenizer, PROMPTS, params.evaluate) == eager_alone
    generator = OnnxGenerator(out, "onnx", params)
    assert generator(PROMPTS) == eager_alone, family
    assert [generator([prompt])[0] for prompt in PROMPTS] == eager_alone, family


@pytest.mark.matrix  # trains and exports every family: make test-matrix
def test_first_step_logits_of_a_padded_batch_are_each_prompts_own(exported, params):
    """Left padding with position ids that skip the pads: each row's logits are those of its prompt alone."""
    from tasks.kinds.causal_lm.evaluate import load_causal_lm
    from tasks.decoders.generate import eager_first_logits, encode_prompts, pad_left
    from tasks.kinds.causal_lm.onnx import OnnxGenerator

    _, folder, out, _ = exported
    model, tokenizer = load_causal_lm(folder)
    encoded = encode_prompts(tokenizer, PROMPTS, 512, 10)
    batch = pad_left(encoded, tokenizer.pad_token_id)
    assert (batch[1][:, 0] == 0).any() and (batch[1][:, -1] == 1).all()  # padded on the left
    alone = np.concatenate([eager_first_logits(model, *pad_left([row], tokenizer.pad_token_id)) for row in encoded])
    scale = np.abs(alone).max()
    assert np.abs(eager_first_logits(model, *batch) - alone).max() < 1e-4 * scale
    assert np.abs(OnnxGenerator(out, "onnx", params).first_logits(*batch) - alone).max() < 1e-4 * scale


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_tokenizers_without_a_pad_token_pad_with_eos_and_monitor_embeddings_work(family, tmp_path, tmp_path_factory):
    """Also with a tokenizer that pads on the left (as some Llama checkpoints' do): the monitor pads on the right."""
    from transformers import AutoTokenizer

    from tasks.kinds.causal_lm.tokenize import prepare_tokenizer
    from tasks.monitoring.signals import embed_texts

    folder = shutil.copytree(cached_checkpoint(family, tmp_path_factory.getbasetemp() / "families"), tmp_path / family)
    settings = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps(settings | {"padding_side": "left"}))
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    assert tokenizer.pad_token is None and tokenizer.padding_side == "left"
    assert prepare_tokenizer(tokenizer).pad_token_id == tokenizer.eos_token_id
    texts = ["mia", "on monday mia went to the garden with tom."]
    together = embed_texts(folder, texts, batch_size=2)  # padded with EOS, masked out of the mean
    alone = np.concatenate([embed_texts(folder, [text]) for text in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_a_tokenizer_without_an_end_of_text_token_is_one_sentence(tmp_path_factory):
    from transformers import AutoTokenizer

    from tasks.core.errors import LmforgeError
    from tasks.kinds.causal_lm.tokenize import prepare_tokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(cached_checkpoint("gpt2", tmp_path_factory.getbasetemp() / "families")))
    tokenizer.eos_token = None
    with pytest.raises(LmforgeError, match="no end-of-text token"):
        prepare_tokenizer(tokenizer)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_prompts_start_as_the_training_texts_start(family, params, tmp_path_factory):
    """Byte-level BPE without a prefix space (GPT-2) and Metaspace with one on the first word (Llama): a prompt
    after EOS is tokenized as the first words of a packed training text are, so the model continues what it saw."""
    from transformers import AutoTokenizer

    from tasks.decoders.generate import encode_prompts
    from tasks.kinds.causal_lm.tokenize import encode_texts, prompt_of

    tokenizer = AutoTokenizer.from_pretrained(str(cached_checkpoint(family, tmp_path_factory.getbasetemp() / "families")))
    text = "on monday mia went to the garden with tom. on tuesday mia went to the attic alone."
    prompt = encode_prompts(tokenizer, [prompt_of(text)], 512, 10)[0]
    stream = [tokenizer.eos_token_id] + encode_texts(tokenizer, [text])[0]
    assert stream[:len(prompt)] == prompt


def test_lora_targets_come_from_peft_per_family(tmp_path_factory):
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_TARGETS
    from transformers import AutoModelForCausalLM

    from tasks.core.config import LoraParams
    from tasks.core.errors import LmforgeError
    from tasks.decoders.build import attach_lora

    for family in DECODERS:
        folder = cached_checkpoint(family, tmp_path_factory.getbasetemp() / "families")
        model = attach_lora(AutoModelForCausalLM.from_pretrained(str(folder)), LoraParams())
        assert model.peft_config["default"].target_modules == set(PEFT_TARGETS[family]), family
        assert any("lora_A" in name for name, _ in model.named_parameters()), family
    model = AutoModelForCausalLM.from_pretrained(str(folder))
    model.config.model_type = "olmo2"  # a family PEFT's table does not name
    with pytest.raises(LmforgeError, match="train.lora.target_modules"):
        attach_lora(model, LoraParams())


@pytest.mark.matrix  # trains and exports every family: make test-matrix
def test_a_merged_lora_llama_exports_and_passes_parity(params, tmp_path, tmp_path_factory):
    import torch
    from transformers import AutoModelForCausalLM

    from tasks.core.config import LoraParams
    from tasks.decoders.build import attach_lora

    base = shutil.copytree(cached_checkpoint("llama", tmp_path_factory.getbasetemp() / "families"), tmp_path / "base")
    sharpen(base, seed=1)
    model = attach_lora(AutoModelForCausalLM.from_pretrained(str(base)), LoraParams(r=4))
    torch.manual_seed(2)
    with torch.no_grad():  # a trained adapter's B is not zero: merging must change the weights
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.3)
    merged = tmp_path / "merged"
    model.merge_and_unload().save_pretrained(str(merged), safe_serialization=True)
    for path in base.glob("*token*"):
        shutil.copy2(path, merged / path.name)
    record = export_folder(params, merged, tmp_path / "export")
    assert record["onnx"]["status"] == "passed" and record["onnx"]["identical"] == 1.0, record["onnx"]


def test_lora_in_bf16_keeps_its_frozen_weights_in_bf16_and_saves_the_merge_in_fp32(tmp_path_factory):
    """What tasks/training/fit.py counts (2 bytes a frozen parameter under train.lora with bf16) is what is loaded;
    the merged model evaluate, export and serving load is fp32 as without LoRA."""
    import torch

    from tasks.core.config import load_params
    from tasks.decoders.build import attach_lora, build_decoder

    folder = cached_checkpoint("llama", tmp_path_factory.mktemp("bf16"))
    settings = load_params(REPO / "params.causal_lm.yaml", [f"model.pretrained={folder}", "train.lora={r: 4}",
                                                            "train.precision=bf16"])
    model = attach_lora(build_decoder(settings, None, settings.tokenize.block_size), settings.train.lora)
    frozen = {p.dtype for p in model.parameters() if not p.requires_grad}
    trained = {p.dtype for p in model.parameters() if p.requires_grad}
    assert frozen == {torch.bfloat16} and trained == {torch.float32}
    ids = torch.randint(3, 50, (2, 8))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(input_ids=ids, labels=ids).loss.backward()
    merged = model.merge_and_unload().float()
    assert {p.dtype for p in merged.parameters()} == {torch.float32}
    plain = load_params(REPO / "params.causal_lm.yaml", [f"model.pretrained={folder}", "train.lora={r: 4}"])
    assert {p.dtype for p in build_decoder(plain, None, plain.tokenize.block_size).parameters()} == {torch.float32}

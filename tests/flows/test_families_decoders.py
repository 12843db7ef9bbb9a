"""The family matrix for causal_lm: GPT-2, Llama, Qwen2, Mistral, Phi and GPT-NeoX (and Llama with LoRA, merged), each
named by Hub id: resolved, trained a few steps, evaluated, registered, exported with a KV cache (ONNX fp32 and int8)
with parity on greedy continuations, served by a real `lmforge serve` from the export, embedded by the monitor; one
family rebuilt by `lmforge reproduce`. tests/family_matrix.py holds the runs."""

from __future__ import annotations

import pytest

from tests.families import DECODERS
from tests.family_matrix import check_family, check_rebuild, run_families

pytestmark = [pytest.mark.flow, pytest.mark.matrix]
BASE = {"data": {"sample": {"rows": 300}}, "tokenize": {"block_size": 32}, "evaluate": {"max_new_tokens": 8}}
# A tiny random decoder trained a few steps sits near ties everywhere: int8 may flip its greedy tokens, which its
# parity check records (and serving then runs fp32 ONNX); fp32 must pass.
BACKENDS = {"onnx": "passed", "onnx-int8": "passed", "torch-export": "not built"}
LORA = "llama-lora"


@pytest.fixture(scope="module")
def runs(prefect_harness, tmp_path_factory):
    families = {family: {} for family in DECODERS} | {
        LORA: {"checkpoint": "llama", "train": {"lora": {"r": 4, "alpha": 8, "merge": True}, "learning_rate": 0.005}}}
    with pytest.MonkeyPatch.context() as patch:
        found = run_families(tmp_path_factory.mktemp("decoders"), patch, "causal_lm", BASE, families)
        yield found


@pytest.mark.parametrize("family", [*DECODERS, LORA])
def test_each_decoder_family_runs_exports_and_serves_from_its_hub_id(runs, family):
    check_family(runs, family, BACKENDS, may_fail={"onnx-int8"})


def test_a_decoder_rebuilds_identical(runs):
    check_rebuild(runs, "gpt2")

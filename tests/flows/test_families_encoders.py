"""The family matrix for the encoder kinds: BERT, DistilBERT, ELECTRA, RoBERTa, XLM-RoBERTa, DeBERTa-v2 and ModernBERT,
each named by Hub id, through classification and extractive qa: resolved, trained a few steps, evaluated, registered,
exported (ONNX, int8, torch.export) with parity, served by a real `lmforge serve`, embedded by the monitor; one family
per kind rebuilt by `lmforge reproduce`. tests/family_matrix.py holds the runs."""

from __future__ import annotations

import pytest

from tests.families import ENCODERS
from tests.family_matrix import check_family, check_rebuild, run_families

pytestmark = [pytest.mark.flow, pytest.mark.matrix]
BASES = {"classification": {"data": {"sample": {"rows": 600}}, "validate": {"min_rows_per_class": 20},
                            "tokenize": {"max_length": 32}},
         "qa": {"data": {"sample": {"rows": 300}}, "train": {"max_steps": 20}}}
ALL_PASS = {"onnx": "passed", "onnx-int8": "passed", "torch-export": "passed"}


@pytest.fixture(scope="module", params=list(BASES))
def kind_runs(request, prefect_harness, tmp_path_factory):
    kind = request.param
    with pytest.MonkeyPatch.context() as patch:
        yield kind, run_families(tmp_path_factory.mktemp(kind), patch, kind, BASES[kind],
                                 {family: {} for family in ENCODERS})


@pytest.mark.parametrize("family", ENCODERS)
def test_each_encoder_family_runs_exports_and_serves_from_its_hub_id(kind_runs, family):
    kind, runs = kind_runs
    # A span model trained 20 steps from random weights has near-ties that int8 rounding can flip on a test row its
    # few validation rows did not show (tests/unit/test_encoder_families.py trains longer and holds int8 to parity).
    check_family(runs, family, ALL_PASS, may_fail={"onnx-int8"} if kind == "qa" else set())


def test_one_family_of_each_kind_rebuilds_identical(kind_runs):
    _, runs = kind_runs
    check_rebuild(runs, "bert")

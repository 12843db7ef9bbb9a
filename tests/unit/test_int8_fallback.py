"""The int8 fallback's gap, chosen on validation logits, and the registry fetching the files it reads."""

from pathlib import Path

import numpy as np


def test_the_fallback_gap_is_the_smallest_that_holds_the_validation_labels_within_a_share_of_rows():
    from tasks.kinds.classification import quantize
    from tasks.registry.backends import near_tie

    fp32 = np.array([[1.0, 0.0]] * 95 + [[0.1, 0.0]] * 4 + [[0.0, 0.6]])
    int8 = fp32.copy()
    int8[95:99] = [[0.0, 0.1]] * 4  # four near-ties flipped: gap 0.1 in int8
    assert quantize.agreement_of(int8, fp32) == 0.96
    assert near_tie(int8, 0.25).tolist() == [False] * 95 + [True] * 4 + [False]
    assert quantize.pick_fallback_gap(int8, fp32) == 0.25  # 0.1 takes none of them (gaps of 0.1 are not below 0.1)
    int8[99] = [0.7, 0.0]  # a flip 0.7 from a tie: 0.75 takes it, and every earlier gap leaves it flipped
    assert quantize.pick_fallback_gap(int8, fp32) == 0.75
    int8[:95] = [[0.5, 0.0]]  # now 0.75 would send every row to fp32: more than the share allowed
    assert quantize.pick_fallback_gap(int8, fp32) is None


class FakeRun:
    """The two calls download_export makes of an MlflowClient, over a run whose export/ holds every backend's files."""

    FILES = ("parity.json", "model.onnx", "model.int8.onnx", "model.int8.json", "model.pt2", "tokenizer.json")

    def list_artifacts(self, run_id, path):
        return [type("Item", (), {"path": f"{path}/{name}"}) for name in self.FILES]

    def download_artifacts(self, run_id, path, target):
        (Path(target) / Path(path).name).write_text("x")
        return target


def test_the_int8_backend_fetches_its_fallback_and_the_fp32_file_beside_its_own():
    from tasks.registry.registered import download_export

    files = lambda backend: sorted(path.name for path in download_export(FakeRun(), "r1", backend).iterdir())
    assert files("onnx-int8") == ["model.int8.json", "model.int8.onnx", "model.onnx", "parity.json", "tokenizer.json"]
    assert files("onnx") == ["model.onnx", "parity.json", "tokenizer.json"]
    assert files("torch-export") == ["model.pt2", "parity.json", "tokenizer.json"]

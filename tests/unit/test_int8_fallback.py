"""The int8 fallback's gap, chosen on validation logits, and the registry fetching the files it reads."""

from pathlib import Path

import numpy as np


def test_the_fallback_gap_covers_how_far_int8_moves_the_margins_and_holds_the_validation_labels():
    from tasks.kinds.classification import quantize
    from tasks.registry.backends import near_tie

    fp32 = np.array([[1.0, 0.0]] * 95 + [[0.1, 0.0]] * 4 + [[0.0, 0.6]])
    assert quantize.pick_fallback_gap(fp32.copy(), fp32) is None  # int8 moved no margin: nothing to fall back for
    int8 = fp32.copy()
    int8[95:99] = [[0.0, 0.1]] * 4  # four near-ties flipped: their margins moved by 0.2
    assert quantize.agreement_of(int8, fp32) == 0.96
    assert quantize.margin_change(int8, fp32).round(6).tolist() == [0.0] * 95 + [0.2] * 4 + [0.0]
    assert near_tie(int8, 0.2).tolist() == [False] * 95 + [True] * 4 + [False]
    assert quantize.pick_fallback_gap(int8, fp32) == 0.2  # the margins' 99th percentile, which holds every label
    int8[99] = [0.7, 0.0]  # a flip 0.7 from a tie, beyond the percentile: widened to 0.75, the first grid gap taking it
    assert quantize.pick_fallback_gap(int8, fp32) == 0.75
    int8[:95] = [[0.5, 0.0]]  # every margin moved by 0.5: the gap sends every row to fp32, and is chosen all the same
    assert quantize.pick_fallback_gap(int8, fp32) == 0.75 and near_tie(int8, 0.75).all()
    int8[99] = [9.3, 0.0]  # a flip wider than every grid gap: just past its margin
    assert quantize.pick_fallback_gap(int8, fp32) == 9.31


def test_a_fallback_is_chosen_even_where_int8_alone_holds_the_validation_labels():
    """A model whose int8 margins move far (large logits) can keep every validation label by luck and lose test
    labels; the margins of all its rows, not its few flips, set the gap."""
    from tasks.kinds.classification import quantize

    rng = np.random.default_rng(0)
    fp32 = rng.normal(0, 4, size=(400, 6))
    int8 = fp32 + rng.normal(0, 0.1, size=fp32.shape)
    gap = quantize.pick_fallback_gap(int8, fp32)
    assert gap is not None and gap >= np.quantile(quantize.margin_change(int8, fp32), quantize.MARGIN_QUANTILE)
    reference = fp32.copy()  # a flip-free validation set: int8 alone holds every label, and still a gap is chosen
    flipped = int8.argmax(-1) != fp32.argmax(-1)
    reference[flipped] = int8[flipped]
    assert quantize.agreement_of(int8, reference) == 1.0 and quantize.pick_fallback_gap(int8, reference)


def test_a_gap_chosen_on_validation_rows_holds_the_labels_of_rows_it_has_not_seen():
    """Validation and test rows drawn alike (logits, and int8's noise on them): on the test rows, the gap chosen on the
    validation rows keeps the labels within the room it was chosen with, where int8 alone misses the parity bar."""
    from tasks.kinds.classification import quantize
    from tasks.registry.backends import near_tie

    rng = np.random.default_rng(0)

    def draw(rows: int):
        fp32 = rng.normal(0, 4, size=(rows, 6))
        return fp32 + rng.normal(0, 0.1, size=fp32.shape), fp32

    gap = quantize.pick_fallback_gap(*draw(400))
    int8, fp32 = draw(20_000)
    flipped = int8.argmax(-1) != fp32.argmax(-1)
    assert flipped.mean() > 1 - quantize.MIN_AGREEMENT
    assert (flipped & ~near_tie(int8, gap)).mean() <= 1 - quantize.CHOICE_AGREEMENT and near_tie(int8, gap).mean() < 0.2


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

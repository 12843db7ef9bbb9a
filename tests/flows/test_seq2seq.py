"""task: seq2seq end to end: a tiny encoder-decoder learns the built-in numbers task; bad pair data is refused."""

from __future__ import annotations

import json

import pytest

from tests.conftest import FAST_PAIRS, invoke, make_project, registry, working_in
from tests.flows.test_bad_input import assert_refused

pytestmark = [pytest.mark.flow, pytest.mark.matrix]  # every kind end to end: make test-matrix
MODEL = "test-numbers"


@pytest.fixture(scope="module")
def translated(prefect_harness, tmp_path_factory):
    with working_in(make_project(tmp_path_factory.mktemp("pairs") / "project", FAST_PAIRS, "params.seq2seq.yaml")) as root:
        result = invoke("run")
        yield root, result


def test_tiny_encoder_decoder_learns_the_numbers_task(translated):
    root, result = translated
    assert result.exit_code == 0, result.output
    metrics = json.loads((root / "metrics/seq2seq/eval.json").read_text())
    assert metrics["eval_bleu"] >= 40, metrics
    assert metrics["eval_chrf"] >= 60 and metrics["eval_perplexity"] < 3, metrics
    assert "promoted: first model" in result.output and "bleu" in result.output
    intervals = json.loads((root / "metrics/seq2seq/intervals.json").read_text())["intervals"]
    low, high = intervals["eval_bleu"]  # sentences resampled, corpus BLEU recomputed from their statistics
    assert low <= metrics["eval_bleu"] <= high and high - low < 30, intervals


def test_registered_like_a_classifier_with_signature_and_samples(translated):
    root, _ = translated
    client = registry(root)
    version = client.get_model_version_by_alias(MODEL, "champion")
    for tag in ("data_version", "data_source", "git_commit", "params_hash", "inputs_hash", "lmforge_version",
                "validation_success", "promotion_verdict"):
        assert version.tags[tag], tag
    assert version.tags["task"] == "seq2seq" and version.tags["data_source"] == "builtin:numbers"
    run = client.get_run(version.run_id)
    assert run.data.tags["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
    assert {"eval_bleu", "eval_chrf", "eval_loss", "eval_perplexity"} <= set(run.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(version.run_id, "evaluation")}
    assert {"evaluation/samples.json", "evaluation/sacrebleu.json"} <= artifacts
    samples = json.loads((root / "metrics/seq2seq/samples.json").read_text())
    assert set(samples[0]) == {"source", "reference", "hypothesis"}
    files = {path.name for path in (root / "mlruns").rglob("*") if path.suffix in (".py", ".pkl")}
    assert "translator.py" in files and "python_model.pkl" not in files, files  # models from code, nothing pickled


def test_predict_rewrites_a_sentence(translated, monkeypatch):
    root, _ = translated
    monkeypatch.chdir(root)
    result = invoke("predict", "room 47 needs 8 plates", "we sold 12 cups on day 3")
    assert result.exit_code == 0, result.output
    outputs = [line.rsplit("\t", 1) for line in result.stdout.splitlines() if "\t" in line]
    assert [row[-1] for row in outputs] == ["room 47 needs 8 plates", "we sold 12 cups on day 3"], result.output
    # Tiny model, short training: the words around the numbers at least must come out right.
    assert outputs[0][0].startswith("room ") and "plates" in outputs[0][0], outputs


def good_pairs():
    from tasks.kinds.seq2seq.builtin import generate_numbers

    return generate_numbers(80, seed=9)


def blank_target(frame):
    frame.loc[3, "target"] = " "
    return frame.to_csv(index=False).encode()


PAIR_CASES = {
    "misaligned row": (lambda f: f.to_csv(index=False).encode() + b"room 3,needs,4 cups\n", "has 3 fields but the header has 2"),
    "empty target": (blank_target, "expect_column_values_to_not_match_regex(target)"),
    "missing target column": (lambda f: f.rename(columns={"target": "english"}).to_csv(index=False).encode(),
                              "no column 'target'"),
    "target-only file": (lambda f: f[["target"]].to_csv(index=False).encode(), "no column 'source'"),
    "non-UTF-8 bytes": (lambda f: f.to_csv(index=False).encode() + b"bus 2 \xff leaves,bus two leaves\n", "not UTF-8"),
    "too few pairs": (lambda f: f.head(2).to_csv(index=False).encode(), "too few to carve"),
}


def test_champion_is_exported_for_beam_search_on_onnx_runtime(translated, monkeypatch):
    root, result = translated
    record = json.loads((root / "data/seq2seq/export/parity.json").read_text())
    onnx = record["onnx"]
    assert onnx["status"] == "passed" and abs(onnx["bleu_diff"]) <= 0.5, record
    assert onnx["identical"] >= 0.99 and onnx["rows"] == 300, record  # fp32: the same search on the same numbers
    assert record["onnx-int8"]["status"] in ("passed", "failed") and record["torch-export"]["status"] == "not built"
    assert "onnx passed (BLEU" in result.output, result.output
    version = registry(root).get_model_version_by_alias(MODEL, "champion")
    assert version.tags["export_onnx"].startswith("passed: BLEU"), version.tags
    monkeypatch.chdir(root)
    texts = ("room 47 needs 8 plates", "we sold 12 cups on day 3")
    eager, onnx_run = invoke("predict", *texts), invoke("predict", "--backend", "onnx", *texts)
    assert onnx_run.exit_code == 0, onnx_run.output
    assert onnx_run.stdout == eager.stdout, (onnx_run.output, eager.output)
    refused = invoke("predict", "--backend", "torch-export", texts[0])
    assert refused.exit_code != 0 and "torch-export" in refused.output and "Traceback" not in refused.output


@pytest.mark.parametrize("case", list(PAIR_CASES))
def test_bad_pairs_are_refused(translated, monkeypatch, case):
    root, _ = translated
    monkeypatch.chdir(root)
    make, expected = PAIR_CASES[case]
    source = root / f"{case.replace(' ', '_').replace('-', '_')}.csv"
    source.write_bytes(make(good_pairs()))
    assert_refused(root, ["run", "--set", f"data.source={source.name}"], expected, records_failed_run=True, model=MODEL)


@pytest.mark.parametrize("override, expected", [
    ("evaluate.num_beams=0", "--set: evaluate.num_beams is invalid: input should be greater than or equal to 1"),
    ("evaluate.max_new_tokens=0", "--set: evaluate.max_new_tokens is invalid: input should be greater than or equal to 1"),
    ("tokenize.algorithm=wordpiece", "tokenize.algorithm is invalid: wordpiece does not fit task seq2seq"),
    ("promote.primary_metric=f1_macro", "promote.primary_metric is invalid: 'f1_macro' is not a metric"),
])
def test_generation_settings_that_cannot_work_are_refused(translated, monkeypatch, override, expected):
    root, _ = translated
    monkeypatch.chdir(root)
    assert_refused(root, ["run", "--set", override], expected, records_failed_run=False, model=MODEL)


def test_fine_tunes_from_a_local_checkpoint(translated, monkeypatch):
    """model.pretrained: the trained folder as a local checkpoint (its tokenizer too); last, as it adds a version."""
    import shutil

    root, _ = translated
    monkeypatch.chdir(root)
    shutil.copytree(root / "data/seq2seq/model", root / "checkpoint")
    result = invoke("run", "--set", f"model.pretrained={root / 'checkpoint'}", "--set", "train.max_steps=20",
                    "--set", "export.enabled=false")
    assert result.exit_code == 0, result.output
    assert json.loads((root / "metrics/seq2seq/eval.json").read_text())["eval_bleu"] >= 40
    assert json.loads((root / "data/seq2seq/tokenized/meta.json").read_text())["tokenizer_source"] == str(root / "checkpoint")


def test_monitor_compares_a_new_file_with_the_models_own_loss(translated, monkeypatch):
    """`lmforge monitor --file`: a new data file against the champion's test split. Sentences like its training
    data pass; text of another kind moves the inputs and the model's own per-token loss on what it writes."""
    import pandas as pd

    from tasks.kinds.seq2seq import make_builtin

    root, _ = translated
    monkeypatch.chdir(root)
    calm = make_builtin("builtin:numbers", 150, 321)[["source"]]
    shifted = pd.DataFrame({"source": [f"Der Vertrag über {n} Kilometer Schiene wurde gestern unterzeichnet"
                                       for n in range(150)]})
    verdicts = {}
    for name, frame in (("calm", calm), ("shifted", shifted)):
        frame.to_csv(root / f"{name}.csv", index=False)
        result = invoke("monitor", "--json", "--file", f"{name}.csv")
        assert result.exit_code == (3 if name == "shifted" else 0), result.output  # 3: the answer is no (drift)
        verdicts[name] = json.loads(result.stdout)
        assert verdicts[name]["rows"] == 150 and "output_loss_ks" in verdicts[name]["tests"], verdicts[name]
    assert verdicts["calm"]["tests"]["output_loss_ks"]["p_value"] >= 0.01, verdicts["calm"]
    assert verdicts["shifted"]["drift"] and verdicts["shifted"]["tests"]["output_loss_ks"]["p_value"] < 0.01, \
        verdicts["shifted"]

"""monitor: what the champion answered in a window of the inference log, against what it was tested on.

The reference is the champion's own test split, read from its data version in DVC's cache, and the champion's answers
to it. Input drift: maximum mean discrepancy on the champion's sentence embeddings, and the texts' lengths; prediction
drift: label shares (classification) or output lengths, and scores. Readable signals (unknown and unseen tokens,
non-ASCII share) and the most drifted inputs come with them. `lmforge monitor` runs it as a Prefect flow.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tasks.core.config import Params
from tasks.core.errors import LmforgeError
from tasks.core.runtime import step
from tasks.monitoring.report import MonitorReport, publish_report, record_report


def find_champion(params: Params):
    from tasks.registry import tracking

    registry = params.registry
    try:
        return tracking.client(params).get_model_version_by_alias(registry.model_name, registry.champion_alias)
    except Exception:  # noqa: BLE001 - MLflow raises its own for "no such alias"
        raise LmforgeError(f"{registry.model_name} has no @{registry.champion_alias} to monitor; run `lmforge run` "
                           "first.") from None


def read_reference(params: Params, version) -> list[str]:
    """The inputs of the champion's test split, as requests to the model look (several columns joined like predict's;
    a language model's texts cut to the prompts evaluate makes of them)."""
    import pandas as pd

    from tasks.data.versioning import find_version_file
    from tasks.feedback import input_columns
    from tasks.kinds import get_kind
    from tasks.registry.pyfunc import INPUT_SEPARATOR

    data_version = version.tags.get("data_version")
    if not data_version:
        raise LmforgeError(f"version {version.version} of {version.name} has no data_version tag, so there is no "
                           "reference data to compare with; promote a version lmforge trained.")
    frame = pd.read_parquet(find_version_file(data_version, "test.parquet"))
    columns = input_columns(params.task)  # a data version's own names, not the source's
    return get_kind(params.task).reference_inputs(frame[columns].fillna("").astype(str).agg(INPUT_SEPARATOR.join, axis=1).tolist())


def answer_reference(params: Params, version, texts: list[str]):
    """The champion's answers to the reference inputs (eager PyTorch): (outputs, scores or None), and its folder."""
    from tasks.data.inference_log import OUTPUT_KEYS
    from tasks.kinds import get_kind
    from tasks.registry.registered import load_registered

    model = load_registered(params, f"models:/{version.name}/{version.version}").unwrap_python_model()
    rows = get_kind(params.task).serve_rows(model.predict(None, texts, {"backend": "eager"}))
    outputs = [str(next(row[key] for key in OUTPUT_KEYS if key in row)) for row in rows]
    scores = [row["score"] for row in rows] if all(row.get("score") is not None for row in rows) else None
    return outputs, scores, model.folder


def sample(values: list, size: int, seed: int) -> list:
    import random

    return values if len(values) <= size else random.Random(seed).sample(values, size)


def compare_window(params: Params, version, window, reference: list[str], from_file: bool = False) -> MonitorReport:
    """The drift tests on a window of logged rows (a DataFrame of the inference log; `from_file`: a data file's
    rows) against the reference inputs."""
    from tasks.kinds import get_kind
    from tasks.monitoring.drift import distribution_test, label_test, mmd_test
    from tasks.feedback import input_columns
    from tasks.monitoring.quality import check_inputs, live_accuracy
    from tasks.monitoring.signals import embed_texts, output_losses, read_signals

    settings, seed = params.monitor, params.project.seed
    reference = sample(reference, settings.sample_rows, seed)
    kind = get_kind(params.task)
    # Every labelled row, not a sample; accuracy only where an output is a label (a generated text rarely equals one).
    quality, live_test = live_accuracy(params, version, window, settings.alpha,
                                       kind.REFERENCE_COLUMN if kind.OUTPUT_IS_LABEL else None)
    total = len(window)  # the report counts every request of the window; the tests read a sample of them
    window = window.sample(n=min(len(window), settings.sample_rows), random_state=seed) if len(window) else window
    outputs, scores, folder = answer_reference(params, version, reference)
    tests: dict = {}
    texts = window["input"].tolist()
    inputs_kept = (from_file or params.monitor.log_inputs == "text") and all(isinstance(text, str) for text in texts)
    texts = kind.logged_inputs(texts) if inputs_kept else texts
    examples: list[str] = []
    signals: dict = {}
    checks: dict = {}
    if inputs_kept:
        vectors = embed_texts(folder, reference + texts)
        tests["input_embedding_mmd"], witness = mmd_test(vectors[:len(reference)], vectors[len(reference):],
                                                         settings.permutations, seed)
        examples = [texts[i] for i in witness.argsort()[::-1][:5]]
        tests["input_length_ks"] = distribution_test([len(t) for t in reference], [len(t) for t in texts])
        signals = read_signals(folder, reference, texts)
        checks = check_inputs(params, texts, input_columns(params.task), kind.validation_checks(params)[0])
    logged = window["output"].fillna("").astype(str).tolist()
    if kind.OUTPUT_IS_LABEL:
        tests["output_label_chi2"] = label_test(outputs, logged)
    else:
        tests["output_length_ks"] = distribution_test([len(o) for o in outputs], [len(o) for o in logged])
        losses = output_losses(folder, (reference, outputs), (texts, logged)) if inputs_kept else None
        if losses is not None:  # a model that generates: how sure it is of what it said
            tests["output_loss_ks"] = distribution_test(*losses)
    if scores is not None and window["score"].notna().all():
        tests["output_score_ks"] = distribution_test(scores, window["score"].tolist())
    if live_test is not None:
        tests["live_accuracy_binomial"] = live_test
    results = {name: result.to_dict() | {"drift": result.p_value < settings.alpha} for name, result in tests.items()}
    drifted = sorted(name for name, result in results.items() if result["drift"])
    message = (f"drift: {', '.join(drifted)} below p {settings.alpha}" if drifted else
               f"no drift: every test's p-value is at least {settings.alpha}")
    failed = {name: check for name, check in checks.items() if not check["success"]}
    if failed:
        message += "; data quality: " + ", ".join(f"{check['unexpected']} of {check['rows']} inputs fail {name}"
                                                  for name, check in failed.items())
    if not inputs_kept:
        message += " (inputs not logged as text, monitor.log_inputs: only the outputs were compared)"
    return MonitorReport(bool(drifted), total, version.name, str(version.version), settings.window_hours,
                         message, results, signals, examples, quality=quality or {}, checks=checks)


def read_file_window(params: Params, version, path: str):
    """A new data file as a window: its inputs (the data.* input columns) and the champion's answers to them."""
    import pandas as pd

    from tasks.predict import load_texts

    texts = load_texts(Path(path), params)
    outputs, scores, _ = answer_reference(params, version, texts)
    return pd.DataFrame({"input": texts, "output": outputs, "score": scores or [None] * len(texts),
                         "request_id": [f"{path}:{row}" for row in range(len(texts))]})


def monitor_champion(params: Params, now: float | None = None, source: str | None = None) -> MonitorReport:
    """Compare the champion's answers of the last monitor.window_hours (or to the inputs of a `source` file) with
    its test split."""
    from tasks.data.inference_log import read_log

    version = find_champion(params)
    hours = params.monitor.window_hours
    if source:
        return compare_window(params, version, read_file_window(params, version, source),
                              read_reference(params, version), from_file=True)
    window = read_log(params.paths.inference_log, since=(now or time.time()) - hours * 3600)
    if not window.empty:
        window = window[(window["model_name"] == version.name) & (window["model_version"] == str(version.version))]
    if window.empty:
        return MonitorReport(False, 0, version.name, str(version.version), hours,
                             f"no requests answered by version {version.version} in the last {hours:g} hours: "
                             "nothing to compare, no event")
    return compare_window(params, version, window.reset_index(drop=True), read_reference(params, version))


@step
def monitor(params: Params, source: str | None = None) -> MonitorReport:
    report = monitor_champion(params, source=source)
    if report.rows:  # an empty window says so and emits nothing
        report.run_id = record_report(params, report)
        publish_report(params, report)
    return report


def main(params: Params) -> None:
    import json

    report = monitor_champion(params)
    if report.rows:
        report.run_id = record_report(params, report)
    print(json.dumps(report.to_dict(), indent=1))


if __name__ == "__main__":
    from tasks.core.runtime import run_entry

    run_entry(main, sys.argv[1:])

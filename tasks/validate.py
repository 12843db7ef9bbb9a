"""validate: a Great Expectations suite built from params, run on the canonical dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tasks.config import Params
from tasks.records import ValidationReport
from tasks.runtime import run_entry, say, step

REPORT_FILE = "report.json"


def load_splits(dataset_dir: str | Path) -> pd.DataFrame:
    """All splits in one frame with a `split` column: the rows the suite checks."""
    frames = [pd.read_parquet(path).assign(split=path.stem) for path in sorted(Path(dataset_dir).glob("*.parquet"))]
    return pd.concat(frames, ignore_index=True)


def build_batches(rows: pd.DataFrame, params: Params) -> dict[str, pd.DataFrame]:
    """The frames each part of the suite looks at: rows, class counts in train, texts of train and test."""
    # Labels of every split, not only train's (tokenize's choice): a class seen only in test must show as 0 here.
    labels = params.data.labels or sorted(rows["label"].dropna().unique())
    train = rows[rows["split"] == "train"]
    counts = train["label"].value_counts().reindex(labels, fill_value=0)
    # Unique within each split, so a repeated text in this frame means train and test share it.
    shared = rows[rows["split"].isin(["train", "test"])].drop_duplicates(["split", "text"])
    return {"rows": rows, "class_counts": counts.rename_axis("label").reset_index(name="count"),
            "train_test_texts": shared.dropna(subset=["text"])}


def build_expectations(params: Params) -> dict[str, list]:
    """Expectations per batch; each is named by its type and column in the report."""
    import great_expectations.expectations as gxe

    v = params.validate_
    rows = [gxe.ExpectColumnToExist(column=column) for column in ("text", "label", "split")]
    rows += [gxe.ExpectColumnValuesToNotBeNull(column="text"), gxe.ExpectColumnValuesToNotBeNull(column="label"),
             gxe.ExpectColumnValuesToNotMatchRegex(column="text", regex=r"^\s*$"),
             gxe.ExpectColumnValueLengthsToBeBetween(column="text", min_value=v.min_text_chars, max_value=v.max_text_chars)]
    if params.data.labels:
        rows.append(gxe.ExpectColumnValuesToBeInSet(column="label", value_set=params.data.labels))
    batches = {"rows": rows,
               "class_counts": [gxe.ExpectColumnValuesToBeBetween(column="count", min_value=v.min_rows_per_class)]}
    if v.check_leakage:
        batches["train_test_texts"] = [gxe.ExpectColumnValuesToBeUnique(column="text")]
    return batches


def run_suite(batches: dict[str, pd.DataFrame], expectations: dict[str, list], docs_dir: Path) -> list[dict]:
    """Validate each batch with Great Expectations; returns the JSON results, one per batch."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("lmforge")
    results = []
    for name, suite_items in expectations.items():
        batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("all")
        suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=suite_items))
        definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
        index_columns = [c for c in ("split", "label", "text", "source", "target", "pair") if c in batches[name].columns]
        result = definition.run(batch_parameters={"dataframe": batches[name]},
                                result_format={"result_format": "COMPLETE", "unexpected_index_column_names": index_columns})
        results.append(result.to_json_dict())
    build_docs(context, docs_dir)
    return results


def build_docs(context, docs_dir: Path) -> None:
    """Data Docs HTML beside the JSON; the ephemeral context already owns the site name local_site."""
    context.add_data_docs_site("lmforge", {"class_name": "SiteBuilder", "store_backend": {
        "class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir.resolve())}})
    context.build_data_docs(site_names=["lmforge"])


def shorten(row, limit: int = 60):
    """An example row for a one-line report: long texts cut, with an ellipsis."""
    if isinstance(row, dict):
        return {key: shorten(value, limit) for key, value in row.items()}
    return row[:limit] + "..." if isinstance(row, str) and len(row) > limit else row


def describe_failure(item: dict, examples: int, unit: str = "rows") -> tuple[str, str]:
    """One failed expectation as (what and how many rows or classes, a few of them)."""
    config, result = item["expectation_config"], item.get("result", {})
    column = config["kwargs"].get("column", "")
    count = result.get("unexpected_count")
    line = f"{config['type']}({column})"
    if count is not None:
        line += f": {count} of {result.get('element_count')} {unit} fail"
    shown = [shorten(row) for row in (result.get("unexpected_index_list") or result.get("partial_unexpected_list") or [])[:examples]]
    if not shown and not item["success"] and config["type"] == "expect_column_to_exist":
        line += ": the column is missing"
    return line, f", e.g. {json.dumps(shown, default=str)}" if shown else ""


def validate_dataset(params: Params) -> ValidationReport:
    """The pure core: run the suite, save report.json (and Data Docs) under paths.validation."""
    out_dir = Path(params.paths.validation)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = load_splits(params.paths.dataset)
    if params.task == "seq2seq":
        from tasks.validate_pairs import pair_batches, pair_expectations

        batches = pair_batches(rows, params)
        expectations = pair_expectations(params, batches)
    else:
        batches, expectations = build_batches(rows, params), build_expectations(params)
    results = run_suite(batches, expectations, out_dir / "docs")
    checked = [(item, "classes" if name == "class_counts" else "rows")
               for name, result in zip(expectations, results) for item in result["results"]]
    described = [describe_failure(item, params.validate_.fail_examples, unit) for item, unit in checked if not item["success"]]
    checks = [summary for summary, _ in described]
    failures = [summary + examples for summary, examples in described]
    report_path = out_dir / REPORT_FILE
    report_path.write_text(json.dumps({"success": not failures, "failures": failures, "checks": checks,
                                       "evaluated": len(checked), "results": results}, indent=1, default=str))
    return ValidationReport(success=not failures, failures=failures, report_path=str(report_path), evaluated=len(checked),
                            checks=checks)


def read_report(params: Params) -> ValidationReport:
    """The report a previous validate wrote (for the DVC driver's later stages)."""
    path = Path(params.paths.validation) / REPORT_FILE
    saved = json.loads(path.read_text())
    return ValidationReport(success=saved["success"], failures=saved["failures"], report_path=str(path),
                            evaluated=saved["evaluated"], checks=saved["checks"])


@step
def validate(params: Params, run_id: str, data_version: str) -> ValidationReport:
    from tasks import tracking

    report = validate_dataset(params)
    # Tagged here, not only at register, so that a run stopped by validation still names the data it refused.
    tracking.set_tags(params, run_id, {"data_version": data_version})
    tracking.log_validation(run_id, report, params)
    print_failures(report)
    return report


def print_failures(report: ValidationReport) -> None:
    for failure in report.failures:
        say(f"  failed: {failure}")


def failure_message(report: ValidationReport) -> str:
    """The one sentence a failed suite ends with: which checks, how many rows; examples are on the lines above."""
    return (f"validation failed: {len(report.checks)} of {report.evaluated} checks ({'; '.join(report.checks)}); fix the data or the "
            f"validate section of params, full report in {report.report_path}.")


def main(params: Params) -> None:
    report = validate_dataset(params)
    print_failures(report)
    if not report.success:
        from tasks.errors import LmforgeError

        raise LmforgeError(failure_message(report))


if __name__ == "__main__":
    run_entry(main)

"""validate: a Great Expectations suite built from params, run on the canonical dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tasks.core.config import Params
from tasks.kinds import get_kind
from tasks.core.records import ValidationReport
from tasks.core.run_record import DATA_DOCS
from tasks.core.runtime import run_entry, say, step
from tasks.data.suite import run_suite

REPORT_FILE = "report.json"
DATASET_DIR = "dataset"  # the rows that passed, under paths.validation: what tokenize reads
DROPPED_FILE = "dropped.parquet"


def load_splits(dataset_dir: str | Path) -> pd.DataFrame:
    """All splits in one frame with a `split` column: the rows the suite checks."""
    frames = [pd.read_parquet(path).assign(split=path.stem) for path in sorted(Path(dataset_dir).glob("*.parquet"))]
    return pd.concat(frames, ignore_index=True)


def build_suite(checks: list, params: Params) -> dict[str, list]:
    """Expectations per batch, each tagged with its check's name; a drop check runs on the rows it left, so strictly."""
    from tasks.data.checks import mostly_of, policy_of

    suite: dict[str, list] = {}
    for check in checks:
        mostly = 1.0 if policy_of(params, check.name) == "drop" else mostly_of(params, check.name)
        for expectation in check.expectations(params, mostly):
            expectation.meta = {"check": check.name}
            suite.setdefault(check.batch, []).append(expectation)
    return suite


def write_validated(kept: pd.DataFrame, dropped: pd.DataFrame, columns: list[str], out_dir: Path) -> dict[str, int]:
    """The rows that passed (what tokenize reads) and the dropped ones with their check, so nothing vanishes unseen."""
    target = out_dir / DATASET_DIR
    target.mkdir(parents=True, exist_ok=True)
    rows = {}
    for split in ("train", "validation", "test"):
        part = kept.loc[kept["split"] == split, [c for c in columns if c in kept.columns]]
        part.reset_index(drop=True).to_parquet(target / f"{split}.parquet", index=False)
        rows[split] = len(part)
    dropped.drop(columns=["length_ratio", "identical"], errors="ignore").to_parquet(out_dir / DROPPED_FILE, index=False)
    return rows


def shorten(row, limit: int = 60):
    """An example row for a one-line report: long texts cut, with an ellipsis."""
    if isinstance(row, dict):
        return {key: shorten(value, limit) for key, value in row.items()}
    return row[:limit] + "..." if isinstance(row, str) and len(row) > limit else row


# What the offending rows (or classes) are, in the user's words; the expectation's own name follows. A kind's own
# checks bring theirs (Check.meaning).
MEANINGS = {
    "nulls": "have no {column}",
    "blank": "have a {column} of only spaces",
    "text_length": "have a text shorter than {min_text_chars} or longer than {max_text_chars} characters",
    "source_length": "have a source shorter than {min_text_chars} or longer than {max_text_chars} characters",
    "target_length": "have a target shorter than {min_target_chars} or longer than {max_target_chars} characters",
    "length_ratio": "have a target/source length ratio outside {min_length_ratio} to {max_length_ratio}",
    "label_set": "have a label that data.labels does not list",
    "class_rows": "have fewer than {min_rows_per_class} rows",
    "duplicates": "repeat another training row",
    "leakage": "are in both train and test",
}


# The setting that moves each check's bounds; suggest_fix names it beside the policy that lets the rows through.
SETTINGS = {"text_length": "validate.min_text_chars/max_text_chars", "source_length": "validate.min_text_chars/max_text_chars",
            "context_length": "validate.min_text_chars/max_text_chars",
            "target_length": "validate.min_target_chars/max_target_chars",
            "length_ratio": "validate.min_length_ratio/max_length_ratio", "label_set": "data.labels",
            "class_rows": "validate.min_rows_per_class", "identical_share": "validate.max_identical_share",
            "answer_in_context": "data.answer_start_column", "tokens": "validate.max_tokens or tokenize.max_length"}


def suggest_fix(check: str, params: Params, every_row: bool = False) -> str:
    """What the user writes to get past a failed check: the setting that moves it, or the policy that drops (or,
    where dropping cannot help, warns about) the offending rows. Where every row fails, dropping them would leave
    nothing, so no drop is suggested; a length check that every text of a plain-text source fails points at how the
    file is cut into texts (data.documents)."""
    from tasks.core.config import CHECKS, POLICY_LETTERS

    if check == "columns":
        return "name the source's columns in data.*_column"
    allowed = CHECKS[params.task].get(check, "f")
    policies = ("warn",) if every_row else ("drop", "warn")
    policy = next((word for word in policies if POLICY_LETTERS[word] in allowed), None)
    fixes = ([f"change {SETTINGS[check]}"] if check in SETTINGS else []) + \
        ([f"set validate.policies.{check}: {policy}"] if policy else [])
    if every_row and check.endswith("_length") and reads_documents(params):
        fixes.insert(0, "set data.documents to how the .txt files hold their texts (line: one per line, blank_line: "
                        "paragraphs, file: the whole file)")
    return " or ".join(fixes) or "fix the data"


def reads_documents(params: Params) -> bool:
    """Whether data.documents cuts this source into texts: plain text read by a kind that reads documents."""
    from tasks.data.sources import is_text_source

    return get_kind(params.task).READS_DOCUMENTS and is_text_source(params.data.source)


def describe_failure(item: dict, examples: int, unit: str = "rows", settings: dict | None = None,
                     meanings: dict[str, str] | None = None) -> tuple[str, str]:
    """One failed expectation as (how many rows or classes, and what is wrong with them, in words; a few of them)."""
    config, result = item["expectation_config"], item.get("result", {})
    column = config["kwargs"].get("column", "")
    count = result.get("unexpected_count")
    line = f"{config['type']}({column})"
    meaning = (meanings or MEANINGS).get((config.get("meta") or {}).get("check", ""), "fail")
    if count is not None:
        line = f"{count} of {result.get('element_count')} {unit} {meaning.format(column=column, **(settings or {}))} (GX: {line})"
    shown = [shorten(row) for row in (result.get("unexpected_index_list") or result.get("partial_unexpected_list") or [])[:examples]]
    if not shown and not item["success"] and config["type"] == "expect_column_to_exist":
        line += ": the column is missing"
    return line, f", e.g. {json.dumps(shown, default=str)}" if shown else ""


def validate_dataset(params: Params) -> ValidationReport:
    """The pure core: apply drop policies, run the suite on what is left, save the report, the rows that go on to
    tokenize and the dropped rows under paths.validation."""
    from tasks.data.checks import GROUP_BATCH, apply_drops, group_batch, group_column, group_leakage, policy_of

    out_dir = Path(params.paths.validation)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = load_splits(params.paths.dataset)
    columns = [c for c in rows.columns if c != "split"]
    kind = get_kind(params.task)
    checks, make_batches = kind.validation_checks(params)
    grouped = group_column(rows.columns, kind.GROUP_COLUMN) if params.validate_.check_leakage else None
    if grouped:
        # The kind's own grouping (qa: the context) covers its row leakage (a shared question and context); a
        # user's group column stands beside the row check, which still catches a text shared across groups.
        own = grouped == kind.GROUP_COLUMN
        checks = [*(check for check in checks if not (own and check.name == "leakage")), group_leakage(grouped)]
    kept, dropped, drop_failures = apply_drops(rows, checks, params)
    batches = make_batches(kept, params)
    if grouped and "split" in kept.columns:
        batches[GROUP_BATCH] = group_batch(kept, grouped)
    suite = {name: items for name, items in build_suite(checks, params).items() if name in batches}
    results = run_suite(batches, suite, out_dir / DATA_DOCS)
    checked = [(item, "classes" if name == "class_counts" else "rows")
               for name, result in zip(suite, results) for item in result["results"]]
    failures, warnings, summaries = list(drop_failures), [], [line.split(" [")[0] for line in drop_failures]
    meanings = MEANINGS | {check.name: check.meaning for check in checks if check.meaning}
    for item, unit in checked:
        if item["success"]:
            continue
        check = (item["expectation_config"].get("meta") or {}).get("check", "")
        summary, examples = describe_failure(item, params.validate_.fail_examples, unit, params.validate_.model_dump(),
                                             meanings)
        if policy_of(params, check) == "warn":
            warnings.append(f"{summary} [{check}: warn]{examples}")
        else:
            counted = item.get("result", {})
            every_row = counted.get("unexpected_count") == counted.get("element_count", -1)
            fix = suggest_fix(check, params, every_row)
            summaries.append(f"{summary}; {fix}")
            failures.append(f"{summary} [{check}]{examples}; {fix}")
    counts = dropped["check"].value_counts().to_dict() if len(dropped) else {}
    kept_rows = write_validated(kept, dropped, columns, out_dir)
    report_path = out_dir / REPORT_FILE
    report_path.write_text(json.dumps({"success": not failures, "failures": failures, "warnings": warnings,
                                       "dropped": counts, "rows": kept_rows, "checks": summaries,
                                       "evaluated": len(checked), "results": results}, indent=1, default=str))
    return ValidationReport(success=not failures, failures=failures, report_path=str(report_path),
                            evaluated=len(checked), checks=summaries, warnings=warnings,
                            dropped={k: int(v) for k, v in counts.items()}, dataset_path=str(out_dir / DATASET_DIR))


def read_report(params: Params) -> ValidationReport:
    """The report a previous validate wrote (for the DVC driver's later stages)."""
    path = Path(params.paths.validation) / REPORT_FILE
    saved = json.loads(path.read_text())
    return ValidationReport(success=saved["success"], failures=saved["failures"], report_path=str(path),
                            evaluated=saved["evaluated"], checks=saved["checks"], warnings=saved.get("warnings", []),
                            dropped=saved.get("dropped", {}), dataset_path=str(path.parent / DATASET_DIR))


@step
def validate(params: Params, run_id: str, data_version: str) -> ValidationReport:
    from tasks.registry import tracking

    report = validate_dataset(params)
    # Tagged here, not only at register, so that a run stopped by validation still names the data it refused.
    tracking.set_tags(params, run_id, {"data_version": data_version})
    tracking.log_validation(run_id, report, params)
    print_failures(report)
    return report


def print_failures(report: ValidationReport) -> None:
    for check, count in report.dropped.items():
        say(f"  dropped: {count} rows by {check} (see {Path(report.report_path).parent / DROPPED_FILE})")
    for warning in report.warnings:
        say(f"  warning: {warning}")
    for failure in report.failures:
        say(f"  failed: {failure}")


def failure_message(report: ValidationReport) -> str:
    """The one sentence a failed suite ends with: which checks, how many rows; examples are on the lines above."""
    return (f"validation failed: {len(report.checks)} of {report.evaluated} checks ({'; '.join(report.checks)}); fix the "
            f"data or params as said, full report in {report.report_path}.")


def main(params: Params) -> None:
    report = validate_dataset(params)
    print_failures(report)
    if not report.success:
        from tasks.core.errors import LmforgeError

        raise LmforgeError(failure_message(report))


if __name__ == "__main__":
    run_entry(main)

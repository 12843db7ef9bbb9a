"""Great Expectations, run: expectation suites on pandas batches in an ephemeral context, with Data Docs. What
validate runs on the dataset and the monitor on logged inputs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def run_suite(batches: dict[str, pd.DataFrame], expectations: dict[str, list], docs_dir: Path) -> list[dict]:
    """Validate each batch with Great Expectations; returns the JSON results, one per batch."""
    import logging

    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # GX reports each ephemeral context's temporary docs folder at INFO: nothing a user can act on.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("lmforge")
    results = []
    for name, suite_items in expectations.items():
        batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("all")
        suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=suite_items))
        definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
        # The text columns identify an offending row in the report, whichever kind's rows these are.
        index_columns = [c for c in batches[name].columns if not pd.api.types.is_numeric_dtype(batches[name][c])]
        result = definition.run(batch_parameters={"dataframe": batches[name]},
                                result_format={"result_format": "COMPLETE", "unexpected_index_column_names": index_columns})
        results.append(drop_run_facts(result.to_json_dict()))
    build_docs(context, docs_dir)
    return results


def drop_run_facts(result: dict) -> dict:
    """A GX result without what differs between two validations of the same rows (ids, load and run times): the
    report keeps what was checked and found, the Data Docs keep the run."""
    result.pop("id", None)
    meta = result.get("meta") or {}
    for key in ("validation_id", "run_id", "validation_time", "checkpoint_id"):
        meta.pop(key, None)
    (meta.get("batch_markers") or {}).pop("ge_load_time", None)
    for item in result.get("results", []):
        (item.get("expectation_config") or {}).pop("id", None)
    return result


def build_docs(context, docs_dir: Path) -> None:
    """Data Docs HTML beside the JSON; the ephemeral context already owns the site name local_site."""
    context.add_data_docs_site("lmforge", {"class_name": "SiteBuilder", "store_backend": {
        "class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir.resolve())}})
    context.build_data_docs(site_names=["lmforge"])

"""Input at scale: a 10^6-row CSV goes through ingest and validate to a dataset version and a passing report, with
the time and peak memory printed. In the faults tier (LMFORGE_FAULTS=1): it takes about a minute."""

from __future__ import annotations

import resource
import time

import pandas as pd
import pytest

from tasks.core.config import load_params
from tasks.ingest import ingest_dataset
from tasks.validate import validate_dataset
from tests.conftest import REPO

pytestmark = pytest.mark.faults
ROWS = 1_000_000


def test_a_million_rows_ingest_and_validate(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the project folder: outputs may only go inside it
    labels = ["negative", "neutral", "positive"]
    frame = pd.DataFrame({"text": [f"review {i}: the item was {labels[i % 3]} in its way" for i in range(ROWS)],
                          "label": [labels[i % 3] for i in range(ROWS)]})
    source = tmp_path / "big.csv"
    frame.to_csv(source, index=False)
    params = load_params(REPO / "params.yaml", [f"data.source={source}", "paths.dataset=dataset",
                                                 "paths.validation=validation"])
    start = time.perf_counter()
    rows = ingest_dataset(params)
    ingested = time.perf_counter() - start
    report = validate_dataset(params)
    validated = time.perf_counter() - start - ingested
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{ROWS} rows: ingest {ingested:.1f} s, validate {validated:.1f} s, peak RSS {peak_mib:.0f} MiB")
    assert sum(rows.values()) == ROWS and report.success, report.failures
    assert sum(len(pd.read_parquet(p)) for p in (tmp_path / "validation" / "dataset").glob("*.parquet")) == ROWS

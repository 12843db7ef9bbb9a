"""Property-based: whatever bytes a CSV, JSONL or Parquet source holds, ingest ends in a complete dataset or one sentence,
and validate, on any dataset ingest wrote, in a report (passed, or naming its failed checks) or one sentence.

CI runs LMFORGE_FUZZ_EXAMPLES examples (default 200); `LMFORGE_FUZZ_EXAMPLES=10000 pytest tests/unit/test_ingest_fuzz.py`
is the long run the note reports. The core is fuzzed without DVC (versioning is the same for any valid dataset).
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tasks.core.config import load_params
from tasks.core.errors import LmforgeError
from tasks.ingest import SPLITS, ingest_dataset
from tasks.validate import validate_dataset
from tests.conftest import REPO

EXAMPLES = int(os.environ.get("LMFORGE_FUZZ_EXAMPLES", "200"))
# Texts with what breaks parsers: delimiters, quotes, newlines, NULs, BOMs, non-ASCII, very long fields.
cells = st.one_of(st.text(max_size=30), st.sampled_from(["", ",", '"', '""', "\n", "\r\n", "\t", "\x00", "\ufeff",
                                                           "é", "😀", "null", "NaN", "1", "1.0", "x" * 5000]))
labels = st.one_of(st.sampled_from(["pos", "neg", "neu"]), st.integers(-2, 3).map(str), cells)
# Rows a user would hand in (distinct sentences, known labels), so some cases get through validation too.
clean_rows = st.lists(st.tuples(st.text("abcdefghij klmnop", min_size=4, max_size=40).map(str.strip).filter(lambda t: len(t) >= 3),
                                st.sampled_from(["pos", "neg", "neu"])), min_size=30, max_size=80, unique_by=lambda row: row[0])
headers = st.one_of(st.just(["text", "label"]), st.just(["label", "text"]), st.just(["text", "text"]),
                    st.just(["text"]), st.just(["body", "label"]), st.lists(cells, min_size=0, max_size=3))


@st.composite
def sources(draw) -> tuple[str, bytes]:
    header = draw(headers)
    rows = draw(st.one_of(st.lists(st.tuples(cells, labels), min_size=0, max_size=60), clean_rows))
    kind = draw(st.sampled_from(["csv", "jsonl", "parquet", "bytes"]))
    if kind == "parquet":
        return "parquet", draw(parquet_tables(header, rows))
    if kind == "bytes":  # anything at all, including non-UTF-8 and half a multi-byte character
        return "csv", draw(st.binary(max_size=400))
    if kind == "jsonl":
        lines = [json.dumps(dict(zip(header, row))) for row in rows]
        if draw(st.booleans()) and lines:
            lines[draw(st.integers(0, len(lines) - 1))] = draw(cells)  # one line that is not JSON
        return "jsonl", "\n".join(lines).encode()
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONE])),
                        escapechar="\\")
    try:
        writer.writerow(header)
        writer.writerows([row[:len(header)] if header else row for row in rows])
    except csv.Error:
        return "csv", b""
    text = buffer.getvalue()
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16", "mixed"]))
    if encoding == "mixed":  # one file whose lines were saved in different encodings (a cat of two exports)
        return "csv", b"".join(line.encode(draw(st.sampled_from(["utf-8", "latin-1"])), errors="replace")
                               for line in text.splitlines(keepends=True))
    return "csv", text.encode(encoding, errors="replace")


@st.composite
def parquet_tables(draw, header: list[str], rows: list[tuple[str, str]]) -> bytes:
    """A Parquet file with the header's names (duplicates allowed) and columns of any type: strings, integers,
    floats, booleans, nulls, lists."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    values = {"str": st.one_of(st.none(), cells), "int": st.one_of(st.none(), st.integers(-3, 3)),
              "float": st.one_of(st.none(), st.floats(allow_nan=True)), "bool": st.one_of(st.none(), st.booleans()),
              "list": st.one_of(st.none(), st.lists(st.integers(0, 3), max_size=3))}
    columns = []
    for index, _ in enumerate(header):
        kind = draw(st.sampled_from(["given", *values]))
        if kind == "given":
            columns.append(pa.array([row[index % 2] for row in rows], type=pa.string()))
        else:
            columns.append(pa.array([draw(values[kind]) for _ in rows]))
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(columns, names=[str(name) for name in header]), buffer)
    return buffer.getvalue()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(source=sources())
def test_any_source_gives_a_dataset_or_one_sentence(tmp_path_factory, source):
    kind, content = source
    root = tmp_path_factory.mktemp("fuzz")
    path = root / f"source.{kind}"
    path.write_bytes(content)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)  # the case's project folder: outputs may only go inside it
        check_source(kind, path, root)


def check_source(kind: str, path: Path, root: Path) -> None:
    params = load_params(REPO / "params.yaml", [f"data.source={path}", "paths.dataset=dataset", "paths.validation=validation",
                                                 "validate.min_rows_per_class=1", "data.labels=[pos, neg, neu]"])
    try:
        rows = ingest_dataset(params)
    except LmforgeError as error:
        message = str(error)
        assert message and "\n" not in message.strip() and message.rstrip().endswith((".", ")")), message
        assert not (root / "dataset").exists() or not any((root / "dataset").iterdir()), "a partial dataset was left"
        event(f"{kind}: refused by ingest")  # counted in --hypothesis-show-statistics
        return
    written = {name: Path(root / "dataset" / f"{name}.parquet") for name in SPLITS}
    assert all(file.is_file() for file in written.values())
    import pandas as pd

    assert {name: len(pd.read_parquet(file)) for name, file in written.items()} == rows
    assert rows["train"] > 0
    try:
        report = validate_dataset(params)
    except LmforgeError as error:
        assert str(error) and "\n" not in str(error).strip(), str(error)
        event(f"{kind}: ingested, refused by validate")
        return
    assert report.success or report.failures, "a failed suite names its checks"
    event(f"{kind}: ingested, validation {'passed' if report.success else 'failed'}")
    assert all(line and "\n" not in line for line in report.failures + report.warnings)
    assert Path(report.report_path).is_file() and (root / "validation" / "dataset" / "train.parquet").is_file()

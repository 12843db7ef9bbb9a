"""Property-based: whatever bytes a CSV or JSONL source holds, ingest ends in a complete dataset or one sentence,
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

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.config import load_params
from tasks.errors import LmforgeError
from tasks.ingest import SPLITS, ingest_dataset
from tasks.validate import validate_dataset
from tests.conftest import REPO

EXAMPLES = int(os.environ.get("LMFORGE_FUZZ_EXAMPLES", "200"))
# Texts with what breaks parsers: delimiters, quotes, newlines, NULs, BOMs, non-ASCII, very long fields.
cells = st.one_of(st.text(max_size=30), st.sampled_from(["", ",", '"', '""', "\n", "\r\n", "\t", "\x00", "\ufeff",
                                                           "é", "😀", "null", "NaN", "1", "1.0", "x" * 5000]))
labels = st.one_of(st.sampled_from(["pos", "neg", "neu"]), st.integers(-2, 3).map(str), cells)
headers = st.one_of(st.just(["text", "label"]), st.just(["label", "text"]), st.just(["text", "text"]),
                    st.just(["text"]), st.just(["body", "label"]), st.lists(cells, min_size=0, max_size=3))


@st.composite
def sources(draw) -> tuple[str, bytes]:
    header = draw(headers)
    rows = draw(st.lists(st.tuples(cells, labels), min_size=0, max_size=60))
    kind = draw(st.sampled_from(["csv", "jsonl", "bytes"]))
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
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16"]))
    return "csv", text.encode(encoding, errors="replace")


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(source=sources())
def test_any_source_gives_a_dataset_or_one_sentence(tmp_path_factory, source):
    kind, content = source
    root = tmp_path_factory.mktemp("fuzz")
    path = root / f"source.{kind}"
    path.write_bytes(content)
    params = load_params(REPO / "params.yaml", [f"data.source={path}", f"paths.dataset={root / 'dataset'}",
                                                 f"paths.validation={root / 'validation'}", "validate.min_rows_per_class=1"])
    try:
        rows = ingest_dataset(params)
    except LmforgeError as error:
        message = str(error)
        assert message and "\n" not in message.strip() and message.rstrip().endswith((".", ")")), message
        assert not (root / "dataset").exists() or not any((root / "dataset").iterdir()), "a partial dataset was left"
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
        return
    assert report.success or report.failures, "a failed suite names its checks"
    assert all(line and "\n" not in line for line in report.failures + report.warnings)
    assert Path(report.report_path).is_file() and (root / "validation" / "dataset" / "train.parquet").is_file()

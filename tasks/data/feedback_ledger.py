"""How much feedback a data version may take and what it took: the cap (feedback.max_share), the ledger of what each
data version took (beside the dataset folder), and whether a challenger trained on new feedback waits for a person
(feedback.requires_approval).

The cap is a pure function of ingest's inputs (the source's training rows and the feedback segments in order), so
the same inputs still give the same data version: DVC and the freshness stamp stay right. Rows over the cap are held
back, not dropped: they join a later version once the source has grown enough (or the cap is raised).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from tasks.core.config import Params

LEDGER = "feedback-taken.json"  # beside the dataset folder, as ingest's stamp: data/feedback-taken.json
KEEP = 100  # entries kept: far enough back to find the data version of any champion still in service


@dataclass
class FeedbackTaken:
    rows: int = 0  # fed-back rows in this data version's training split
    held: int = 0  # rows the cap held back for later versions
    source_rows: int = 0  # the source's training rows: the cap's base
    segments: dict[str, int] = field(default_factory=dict)  # feedback segment -> its rows taken


def cap_rows(source_rows: int, max_share: float) -> int | None:
    """The most feedback rows F beside `source_rows` S with F / (S + F) <= max_share, i.e. F <= S*m / (1 - m);
    None when max_share is 1 (no cap)."""
    if max_share >= 1:
        return None
    return math.floor(source_rows * max_share / (1 - max_share) + 1e-9)  # 1e-9: 80 * 0.2 / 0.8 is 20, not 19.99...


def take_feedback(segments: list[tuple[str, pd.DataFrame]], source_rows: int,
                  max_share: float) -> tuple[pd.DataFrame, FeedbackTaken]:
    """The rows of the feedback segments (in the order they were accepted) up to the cap, and what was taken."""
    left = cap_rows(source_rows, max_share)
    kept, taken, total = [], FeedbackTaken(source_rows=source_rows), 0
    for name, frame in segments:
        total += len(frame)
        part = frame if left is None else frame.iloc[:max(left, 0)]
        if left is not None:
            left -= len(part)
        if len(part):
            kept.append(part)
            taken.segments[name] = len(part)
    rows = pd.concat(kept, ignore_index=True) if kept else pd.DataFrame()
    taken.rows, taken.held = len(rows), total - len(rows)
    return rows, taken


def check_file_share(params: Params, rows: int, path: Path) -> None:
    """Refuse a labels file whose `rows` alone would exceed feedback.max_share of the training rows, against the
    source's training rows as the last ingest counted them (else the training split's rows; nothing ingested yet:
    ingest's cap alone applies)."""
    from tasks.core.errors import LmforgeError

    latest = read_taken(params, None)
    train = Path(params.paths.dataset) / "train.parquet"
    if latest is not None:
        source_rows = int(latest["source_rows"])
    elif train.is_file():
        import pyarrow.parquet as pq

        source_rows = pq.ParquetFile(train).metadata.num_rows
    else:
        return
    limit = cap_rows(source_rows, params.feedback.max_share)
    if limit is not None and rows > limit:
        raise LmforgeError(f"{path}: its {rows} rows alone would be {rows / (source_rows + rows):.0%} of the training "
                           f"rows ({source_rows} from the source), over feedback.max_share "
                           f"({params.feedback.max_share:g}, at most {limit} rows); send it in smaller files over "
                           "several data versions, or raise feedback.max_share. Nothing was appended.")


def ledger_path(params: Params) -> Path:
    return Path(params.paths.dataset).parent / LEDGER


def read_ledger(params: Params) -> list[dict]:
    try:
        return json.loads(ledger_path(params).read_text())["versions"]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def train_digest(params: Params) -> str:
    """SHA-256 of the training split ingest wrote (the same rows always give the same bytes)."""
    import hashlib

    path = Path(params.paths.dataset) / "train.parquet"
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


def record_taken(params: Params, data_version: str | None, taken: FeedbackTaken) -> None:
    """Ingest, after writing the splits: what this data version took (one entry per data version). None: the data
    version is not known yet (a DVC stage: DVC hashes the output after the command); register claims the entry."""
    entries = [entry for entry in read_ledger(params) if entry.get("data_version") != data_version]
    entries.append({"data_version": data_version, "time": time.strftime("%Y-%m-%d %H:%M:%S"),
                    "train_sha256": train_digest(params), **asdict(taken)})
    write_ledger(params, entries)


def claim_taken(params: Params, data_version: str) -> None:
    """Under DVC, once the data version is known: the entry ingest left unnamed becomes this version's, if the
    training split is still the one it described."""
    entries = read_ledger(params)
    digest = train_digest(params)
    for entry in entries:
        if entry.get("data_version") is None and entry.get("train_sha256") == digest:
            entry["data_version"] = data_version
            write_ledger(params, [other for other in entries if other is entry or
                                  other.get("data_version") != data_version])
            return


def write_ledger(params: Params, entries: list[dict]) -> None:
    path = ledger_path(params)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"versions": entries[-KEEP:]}, indent=1))
    temporary.replace(path)  # a reader never sees half a ledger


def read_taken(params: Params, data_version: str | None) -> dict | None:
    """The ledger's entry of a data version (None: not ingested with a ledger, or none asked for); with None, the
    latest entry."""
    entries = read_ledger(params)
    if data_version is None:
        return entries[-1] if entries else None
    return next((entry for entry in reversed(entries) if entry.get("data_version") == data_version), None)


def count_new_rows(taken: dict, base: dict | None) -> int:
    """Feedback rows `taken` has that `base` (another data version's entry; None: none) did not have."""
    before = (base or {}).get("segments", {})
    return sum(max(0, rows - before.get(name, 0)) for name, rows in taken.get("segments", {}).items())


def approval_needed(params: Params, taken: dict | None, base: dict | None) -> bool:
    """Whether a person must approve before @champion moves: promote.approval is required, or
    feedback.requires_approval is true and this data version (`taken`, its ledger entry) took feedback rows the
    champion's data version (`base`; None: no champion, or one the ledger does not know) did not have. A data version
    the ledger does not know may hold any feedback: it needs approval too."""
    if params.promote.approval == "required":
        return True
    if not params.feedback.requires_approval:
        return False
    return taken is None or count_new_rows(taken, base) > 0

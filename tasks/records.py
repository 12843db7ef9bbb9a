"""The small records that travel between steps: paths, hashes and numbers, never data."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DatasetVersion:
    path: str
    data_version: str
    source: str
    rows: dict[str, int]


@dataclass
class ValidationReport:
    success: bool
    failures: list[str]  # one line per failed check, with example rows
    report_path: str
    evaluated: int = 0
    checks: list[str] = field(default_factory=list)  # the same failed checks without examples


@dataclass
class TokenizedData:
    path: str
    cache_key: str
    tokenizer_path: str
    reused: bool = False


@dataclass
class TrainedModel:
    path: str
    best_metric: float
    steps: int
    epochs: float


@dataclass
class Evaluation:
    metrics: dict[str, float]
    artifacts: list[str] = field(default_factory=list)


@dataclass
class ModelVersion:
    name: str
    version: str
    alias: str
    tags: dict[str, str]
    run_id: str


@dataclass
class Promotion:
    promoted: bool
    reason: str
    champion_before: str | None
    champion_after: str | None
    deltas: dict[str, float]
    path: str  # the decision as JSON (also an artifact of the challenger's MLflow run)

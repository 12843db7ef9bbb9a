"""The small records that travel between steps: paths, hashes and numbers, never data."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DatasetVersion:
    path: str
    data_version: str
    source: str
    rows: dict[str, int]
    push_pending: str = ""  # why the DVC remote does not hold this version yet; empty when it does
    revision: str = ""  # what a remote source resolved to: a Hub commit, sha256:<hex> of a URL, or mirror:<hash>
    feedback_rows: int = 0  # fed-back rows in the training split (`lmforge feedback`)
    feedback_held: int = 0  # fed-back rows feedback.max_share held back for later versions

    def summary(self) -> str:
        rows = " / ".join(f"{n} {split}" for split, n in self.rows.items())
        fed = (f"; {self.feedback_rows} fed-back training rows" if self.feedback_rows else "") + (
            f", {self.feedback_held} held back by feedback.max_share" if self.feedback_held else "")
        return f"{rows} rows, versioned as {self.data_version}{fed}" + ("; DVC push pending" if self.push_pending else "")


@dataclass
class ValidationReport:
    success: bool
    failures: list[str]  # one line per failed check, with example rows
    report_path: str
    evaluated: int = 0
    checks: list[str] = field(default_factory=list)  # the same failed checks without examples
    warnings: list[str] = field(default_factory=list)  # checks that failed under the warn policy
    dropped: dict[str, int] = field(default_factory=dict)  # rows removed per check under the drop policy
    dataset_path: str = ""  # the rows that passed: what tokenize reads

    def summary(self) -> str:
        """One line for the run summary: the verdict, and what was let through or removed."""
        verdict = f"{'passed' if self.success else 'failed'} ({self.evaluated} checks)"
        dropped = ", ".join(f"{n} rows by {name}" for name, n in self.dropped.items())
        parts = [verdict, f"dropped {dropped}" if dropped else "", f"{len(self.warnings)} warnings" if self.warnings else ""]
        return "; ".join(part for part in parts if part)


@dataclass
class TokenizedData:
    path: str
    cache_key: str
    tokenizer_path: str
    reused: bool = False

    def summary(self) -> str:
        return f"cache key {self.cache_key} ({'reused' if self.reused else 'new'})"


@dataclass
class TrainedModel:
    path: str
    best_metric: float
    steps: int
    epochs: float

    def summary(self) -> str:
        return f"{self.steps} steps, {self.epochs:.2f} epochs, best validation score {self.best_metric:.4f}"


@dataclass
class Evaluation:
    metrics: dict[str, float]
    artifacts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. one output for most of the test split

    def summary(self) -> str:
        from tasks.core.config import SHOWN_METRICS

        return "test " + ", ".join(f"{k.removeprefix('eval_')} {v:.4f}" for k, v in self.metrics.items() if k in SHOWN_METRICS)


@dataclass
class ModelVersion:
    name: str
    version: str
    alias: str
    tags: dict[str, str]
    run_id: str

    def summary(self) -> str:
        return f"{self.name} version {self.version} @{self.alias}"


@dataclass
class Promotion:
    promoted: bool
    reason: str
    champion_before: str | None
    champion_after: str | None
    deltas: dict[str, float]
    path: str  # the decision as JSON (also an artifact of the challenger's MLflow run, with when and by whom)
    by: str = ""  # who decided: a fact of the run, kept out of the file
    baseline: str = ""  # the trivial baseline the gate held it to, in one line (the file has its record)

    def summary(self) -> str:
        return f"{'promoted' if self.promoted else 'rejected'}: {self.reason}"

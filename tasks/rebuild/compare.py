"""The rebuild against the record, stage by stage in pipeline order (params, ingest, validate, tokenize, train,
evaluate): the first difference is the answer.

`identical`: every compared file, prediction and metric equal. `within_tolerance`: bits differ where bitwise
equality is not to be had (another CPU instruction set, a GPU, several DDP processes, other packages), and every
metric is within the tolerance. `differs`: anything else, at the first stage that differs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field



@dataclass
class Difference:
    stage: str
    detail: str


@dataclass
class Verdict:
    verdict: str  # identical | within_tolerance | differs
    stage: str = ""
    detail: str = ""
    compared: dict[str, int] = field(default_factory=dict)  # what was compared, by kind: files, predictions, metrics

    def as_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value or key == "verdict"}


def is_tokenizer_file(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return "token" in name or name.startswith(("vocab", "merges", "spiece"))


def compare_files(recorded: dict[str, str], rebuilt: dict[str, str], tokenizer: bool) -> str:
    """The first file (tokenizer files, or the rest) whose sha256 differs or that only one side has."""
    names = sorted(name for name in recorded.keys() | rebuilt.keys() if is_tokenizer_file(name) == tokenizer)
    for name in names:
        if recorded.get(name) != rebuilt.get(name):
            if name not in rebuilt or name not in recorded:
                return f"{name} is {'missing from the rebuild' if name not in rebuilt else 'new in the rebuild'}"
            return f"{name} differs (sha256 {recorded[name][:12]} recorded, {rebuilt[name][:12]} rebuilt)"
    return ""


def compare_predictions(recorded: list[str] | None, rebuilt: list[str]) -> str:
    if recorded is None:
        return ""  # a run that logged none: metrics decide
    if len(recorded) != len(rebuilt):
        return f"{len(rebuilt)} test predictions rebuilt, {len(recorded)} recorded"
    unequal = [i for i, (a, b) in enumerate(zip(recorded, rebuilt)) if a != b]
    if not unequal:
        return ""
    first = unequal[0]
    return (f"{len(unequal)} of {len(recorded)} test predictions differ; the first, row {first}: "
            f"{recorded[first][:60]!r} recorded, {rebuilt[first][:60]!r} rebuilt")


def metric_gaps(recorded: dict[str, float], rebuilt: dict[str, float]) -> dict[str, float]:
    """|rebuilt - recorded| of each metric both have (runtime figures left out)."""
    return {name: abs(rebuilt[name] - value) for name, value in sorted(recorded.items())
            if name in rebuilt and "runtime" not in name and "per_second" not in name}


def compare_artifacts(files: dict[str, str], predictions: list[str] | None, other: dict) -> Difference | None:
    """The first of tokenizer files, other model files and test predictions that differs between a build (`files`,
    `predictions`) and `other` (a rebuild's files and predictions)."""
    for stage, tokenizer in (("tokenize", True), ("train", False)):
        if detail := compare_files(files, other["files"], tokenizer):
            return Difference(stage, detail)
    if detail := compare_predictions(predictions, other["predictions"]):
        return Difference("evaluate", detail)
    return None


def first_difference(recorded, rebuilt: dict) -> Difference | None:
    """`recorded`: a VersionRecord; `rebuilt`: params_hash, data_version (+ data_detail), files, predictions, metrics,
    and what_if (params changed on purpose: then their effect on the artifacts is the answer)."""
    if not rebuilt.get("what_if") and rebuilt["params_hash"] != recorded.tags.get("params_hash"):
        return Difference("params", f"the model's recorded params hash to {rebuilt['params_hash']}, the version's "
                                    f"tag says {recorded.tags.get('params_hash')}: the record was altered")
    if rebuilt["data_version"] != recorded.tags.get("data_version"):
        return Difference("ingest", f"the source now gives data version {rebuilt['data_version']}, the version "
                                    f"records {recorded.tags.get('data_version')}{rebuilt.get('data_detail', '')}")
    if rebuilt.get("failed"):
        return Difference(rebuilt["failed"], f"the rebuilt data fails its checks: {rebuilt.get('detail', '')}")
    if found := compare_artifacts(recorded.files, recorded.predictions, rebuilt):
        return found
    gaps = {name: gap for name, gap in metric_gaps(recorded.metrics, rebuilt["metrics"]).items() if gap > 0}
    if gaps:
        name = next(iter(gaps))
        return Difference("evaluate", f"{name} {recorded.metrics[name]:.6g} recorded, {rebuilt['metrics'][name]:.6g} rebuilt")
    return None


def judge(recorded, rebuilt: dict, inexact: str, tolerance: float, unfaithful: str = "") -> Verdict:
    """`inexact`: empty when the rebuild should give the same bits, else why it cannot. `unfaithful`: empty, else why
    the rebuild does not stand for the version (installed from another lock): then a difference is "differs" with
    that reason, never within tolerance, since other code made it."""
    gaps = metric_gaps(recorded.metrics, rebuilt.get("metrics", {}))
    compared = {"files": len(recorded.files), "predictions": len(recorded.predictions or []), "metrics": len(gaps)}
    found = first_difference(recorded, rebuilt)
    if found is None:
        return Verdict("identical", compared=compared)
    if unfaithful:
        return Verdict("differs", found.stage, f"{found.detail}; {unfaithful}", compared)
    if inexact and found.stage in ("train", "evaluate"):
        worst = max(gaps, key=gaps.get) if gaps else ""
        if worst and gaps[worst] <= tolerance:
            return Verdict("within_tolerance", found.stage,
                           f"{found.detail}; expected, since {inexact}; every metric within {tolerance:g} "
                           f"(largest gap: {worst} {gaps[worst]:.4g})", compared)
    return Verdict("differs", found.stage, found.detail, compared)

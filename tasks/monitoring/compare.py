"""`lmforge compare`: the challenger against the champion on live traffic, from the inference log.

Shadow: the same requests answered by both (rows sharing a request id): how often they agree, both latencies, and
where labels came back (`lmforge feedback`) both models' primary metric on those requests with promote's own paired
significance test. Canary: each side's share of the requests and its latency (different requests: no paired test).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tasks.core.config import Params
from tasks.servers.traffic import CANARY, CHAMPION, SHADOW, percentile


def latency(values) -> dict:
    values = list(values)
    return {"p50_ms": round(percentile(values, 0.5), 3), "p95_ms": round(percentile(values, 0.95), 3)}


def pair_shadow_rows(log: pd.DataFrame) -> pd.DataFrame:
    """Each shadowed input: the champion's row and the challenger's, side by side (suffixes _champion, _challenger)."""
    if log.empty or "role" not in log:
        return pd.DataFrame()
    served = log[log["role"] == CHAMPION]
    shadow = log[log["role"] == SHADOW].drop_duplicates("request_id")
    return served.merge(shadow, on="request_id", suffixes=("_champion", "_challenger"))


def labelled_test(params: Params, kind, pairs: pd.DataFrame, labels: pd.DataFrame) -> dict | None:
    """Both models' primary metric on the shadowed requests that got a label back, and promote's paired test.
    `kind`: the task kind's package (its reference column and per-row scorers)."""
    from tasks.data.feedback import REQUEST_ID
    from tasks.registry.promotion_rule import check_significance

    target = kind.REFERENCE_COLUMN
    if target is None or labels.empty or target not in labels:
        return None
    joined = pairs.merge(labels[[REQUEST_ID, target]].drop_duplicates(REQUEST_ID), on=REQUEST_ID)
    if joined.empty:
        return None
    truth = joined[target].astype(str).tolist()
    outputs = {who: joined[f"output_{who}"].fillna("").astype(str).tolist() for who in ("champion", "challenger")}
    if not params.data.labels and kind.OUTPUT_IS_LABEL:  # the label set of these requests, both models' answers too
        seen = sorted({*truth, *outputs["champion"], *outputs["challenger"]})
        params = params.model_copy(update={"data": params.data.model_copy(update={"labels": seen})})
    test = pd.DataFrame({target: truth})
    metric = params.promote.primary_metric
    scorers = {who: kind.row_scorers(params, None, test, predicted).get(metric) for who, predicted in outputs.items()}
    if scorers["champion"] is None:
        return {"labelled": len(joined), "metric": metric, "note": f"{metric} is not scored per request for this kind"}
    everything = np.arange(len(joined))
    difference = lambda picks: scorers["challenger"](picks) - scorers["champion"](picks)  # noqa: E731
    significance = check_significance(params.promote, len(joined), difference, params.project.seed,
                                      (np.array(truth), np.array(outputs["champion"]), np.array(outputs["challenger"])))
    return {"labelled": len(joined), "metric": metric,
            "champion": round(float(scorers["champion"](everything)), 6),
            "challenger": round(float(scorers["challenger"](everything)), 6), "significance": significance}


def compare_shadow(params: Params, kind, log: pd.DataFrame, labels: pd.DataFrame) -> list[dict]:
    """One record per (champion, challenger) pair of versions seen in shadow rows, most requests first."""
    pairs = pair_shadow_rows(log)
    records = []
    if pairs.empty:
        return records
    for (champion, challenger), rows in pairs.groupby(["model_version_champion", "model_version_challenger"]):
        same = rows["output_champion"].astype(str) == rows["output_challenger"].astype(str)
        records.append({"champion_version": str(champion), "challenger_version": str(challenger),
                        "requests": len(rows), "agreement": round(float(same.mean()), 6),
                        "latency": {"champion": latency(rows["latency_ms_champion"]),
                                    "challenger": latency(rows["latency_ms_challenger"])},
                        "labelled": labelled_test(params, kind, rows, labels)})
    return sorted(records, key=lambda record: -record["requests"])


def compare_canary(log: pd.DataFrame) -> list[dict]:
    """One record per (champion, challenger) pair of versions with canary answers: each side's requests and latency."""
    if log.empty or "role" not in log:
        return []
    live = log[log["role"].isin([CHAMPION, CANARY]) & log["challenger_version"].notna()]
    records = []
    for (champion, challenger), rows in live.groupby(["champion_version", "challenger_version"]):
        sides = {role: rows[rows["role"] == role].drop_duplicates("request_id") for role in (CHAMPION, CANARY)}
        if sides[CANARY].empty:
            continue
        total = sum(len(side) for side in sides.values())
        records.append({"champion_version": str(champion), "challenger_version": str(challenger), "requests": total,
                        "canary_share": round(len(sides[CANARY]) / total, 6),
                        "latency": {role: latency(side["latency_ms"]) for role, side in sides.items()}})
    return sorted(records, key=lambda record: -record["requests"])


def compare_traffic(params: Params, kind, hours: float) -> dict:
    import time

    from tasks.data.feedback import read_feedback
    from tasks.data.inference_log import read_log

    log = read_log(params.paths.inference_log, since=time.time() - hours * 3600)
    if not log.empty:
        log = log[log["model_name"] == params.registry.model_name]
    labels = read_feedback(params.paths.feedback)
    return {"model_name": params.registry.model_name, "window_hours": hours,
            "shadow": compare_shadow(params, kind, log, labels), "canary": compare_canary(log)}


def describe_shadow(record: dict) -> list[str]:
    from tasks.registry.promotion_rule import describe_significance

    times = record["latency"]
    lines = [f"  shadow: version {record['challenger_version']} beside version {record['champion_version']} on "
             f"{record['requests']} requests: agreement {record['agreement']:.1%}; p50/p95 "
             f"{times['challenger']['p50_ms']:.1f}/{times['challenger']['p95_ms']:.1f} ms against "
             f"{times['champion']['p50_ms']:.1f}/{times['champion']['p95_ms']:.1f} ms"]
    labelled = record["labelled"]
    if labelled and "significance" in labelled:
        lines.append(f"    {labelled['labelled']} labelled: {labelled['metric']} {labelled['champion']:.4f} -> "
                     f"{labelled['challenger']:.4f}; {describe_significance(labelled['significance'])}")
    elif labelled:
        lines.append(f"    {labelled['labelled']} labelled: {labelled['note']}")
    else:
        lines.append("    no labels came back for these requests (lmforge feedback): no paired test")
    return lines


def describe_traffic(report: dict, challenger: str | None = None) -> str:
    """The report as lines of text (`challenger`: that version's records only); empty when there are none."""
    lines = []
    for record in report["shadow"]:
        if challenger in (None, record["challenger_version"]):
            lines += describe_shadow(record)
    for record in report["canary"]:
        if challenger in (None, record["challenger_version"]):
            sides = record["latency"]
            lines.append(f"  canary: version {record['challenger_version']} answered {record['canary_share']:.1%} of "
                         f"{record['requests']} requests beside version {record['champion_version']}; p95 "
                         f"{sides['canary']['p95_ms']:.1f} ms against {sides['champion']['p95_ms']:.1f} ms")
    return "\n".join(lines)

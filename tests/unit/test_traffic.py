"""The canary's split and its rollback rule, and `lmforge compare` on a logged window: pure, no server."""

from __future__ import annotations

import random
import uuid

import pandas as pd
import pytest

from tasks.core.config import CanaryParams, load_params
from tasks.kinds import get_kind
from tasks.monitoring.compare import compare_canary, compare_shadow
from tasks.servers.traffic import CANARY, CHAMPION, CanaryWatch, judge_canary, takes_canary
from tests.conftest import REPO


@pytest.mark.parametrize("share", [0.05, 0.3, 0.5, 0.9])
def test_canary_share_holds_within_two_points_over_10000_requests(share):
    keyed = sum(takes_canary(uuid.uuid4().hex, share) for _ in range(10_000)) / 10_000
    draws = random.Random(7)
    unkeyed = sum(takes_canary(None, share, draws.random) for _ in range(10_000)) / 10_000  # a draw per request
    assert abs(keyed - share) <= 0.02 and abs(unkeyed - share) <= 0.02, (keyed, unkeyed)


def test_a_key_always_lands_on_the_same_side_and_a_larger_share_only_adds_keys():
    keys = [f"user-{n}" for n in range(2000)]
    first = {key: takes_canary(key, 0.2) for key in keys}
    assert all(takes_canary(key, 0.2) == side for key, side in first.items() for _ in range(3))
    wider = {key: takes_canary(key, 0.4) for key in keys}
    assert all(wider[key] for key, side in first.items() if side)  # nobody on the canary moves back
    assert not any(takes_canary(key, 0.0) for key in keys) and all(takes_canary(key, 1.0) for key in keys)


def figures(requests: int, errors: int, p95: float) -> dict:
    return {"requests": requests, "errors": errors, "error_rate": errors / requests if requests else 0.0,
            "p95_ms": p95}


def test_canary_judged_only_from_min_requests_and_beyond_the_margins():
    rule = CanaryParams(share=0.1, min_requests=100, error_margin=0.02, p95_margin_ms=20)
    champion = figures(900, 9, 30.0)
    assert judge_canary(champion, figures(99, 50, 500.0), rule) is None  # too few answers to judge
    assert judge_canary(champion, figures(100, 3, 49.0), rule) is None  # 3 % against 1 %, 19 ms slower: within
    slow = judge_canary(champion, figures(100, 1, 51.0), rule)
    assert "p95 latency 51.0 ms" in slow and "serve.canary.p95_margin_ms" in slow and "error" not in slow
    failing = judge_canary(champion, figures(100, 4, 30.0), rule)
    assert "error rate 4.00%" in failing and "serve.canary.error_margin" in failing


def test_canary_watch_gives_its_verdict_once_and_starts_afresh_for_new_versions():
    watch = CanaryWatch(CanaryParams(share=0.5, min_requests=5, p95_margin_ms=10))
    for _ in range(20):
        assert watch.add(("1", "2"), CHAMPION, 5.0, False) is None
    verdicts = [watch.add(("1", "2"), CANARY, 50.0, False) for _ in range(8)]
    assert verdicts[:4] == [None] * 4 and verdicts[4].startswith("canary rolled back after 5 answers")
    assert verdicts[5:] == [None] * 3
    assert watch.add(("1", "3"), CANARY, 50.0, False) is None and watch.summary()[CANARY]["requests"] == 1


def log_rows(role: str, version: str, outputs: list[str], ids: list[str], ms: float, challenger: str = "2") -> pd.DataFrame:
    return pd.DataFrame({"request_id": ids, "role": role, "model_version": version, "output": outputs,
                         "latency_ms": ms, "champion_version": "1", "challenger_version": challenger,
                         "model_name": "lmforge"})


def test_compare_pairs_shadow_rows_and_runs_the_paired_test_on_labelled_requests():
    params = load_params(REPO / "params.yaml", ["promote.significance.test=mcnemar"])
    ids = [f"r{n}" for n in range(200)]
    truth = ["positive" if n % 2 else "negative" for n in range(200)]
    champion = [label if n % 5 else "neutral" for n, label in enumerate(truth)]  # wrong on every fifth
    challenger = list(truth)  # right everywhere
    log = pd.concat([log_rows(CHAMPION, "1", champion, ids, 10.0), log_rows("shadow", "2", challenger, ids, 12.0),
                     log_rows(CHAMPION, "1", ["x"], ["unshadowed"], 10.0)], ignore_index=True)
    labels = pd.DataFrame({"request_id": ids[:150], "label": truth[:150]})
    [record] = compare_shadow(params, get_kind(params.task), log, labels)
    assert record["requests"] == 200 and record["agreement"] == 0.8
    assert record["latency"]["champion"]["p50_ms"] == 10.0 and record["latency"]["challenger"]["p95_ms"] == 12.0
    labelled = record["labelled"]
    assert labelled["labelled"] == 150 and labelled["challenger"] == 1.0 and labelled["champion"] < 1.0
    assert labelled["significance"]["test"] == "mcnemar" and labelled["significance"]["passed"]
    assert labelled["significance"]["only_challenger_right"] == 30 and labelled["significance"]["only_champion_right"] == 0
    assert compare_shadow(params, get_kind(params.task), log, pd.DataFrame())[0]["labelled"] is None


def test_compare_reports_each_side_of_a_canary():
    ids = [f"r{n}" for n in range(100)]
    log = pd.concat([log_rows(CHAMPION, "1", ["a"] * 90, ids[:90], 10.0),
                     log_rows(CANARY, "2", ["a"] * 10, ids[90:], 30.0)], ignore_index=True)
    [record] = compare_canary(log)
    assert record["requests"] == 100 and record["canary_share"] == 0.1
    assert record["latency"][CANARY]["p95_ms"] == 30.0 and record["latency"][CHAMPION]["p50_ms"] == 10.0

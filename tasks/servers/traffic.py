"""Who answers a request when a challenger is served beside the champion: the canary's sticky split, the figures of
each side, and the rule that takes the canary back (share to 0) when it answers worse than the champion.

Pure: no HTTP and no registry; tasks/serve.py calls these for every request.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections import deque

from tasks.core.config import CanaryParams

CHAMPION, CANARY, SHADOW = "champion", "canary", "shadow"  # a log row's role: who answered, or who scored it aside
LATENCY_WINDOW = 2000  # the latest answers of each side behind a p95 (a canary judged on recent traffic, not all-time)


def key_point(key: str) -> float:
    """Where a request key falls in [0, 1): the same key, the same point, in every process and after restarts. A key
    below the share goes to the canary, so raising the share only moves keys from the champion to the canary."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2 ** 64


def takes_canary(key: str | None, share: float, draw=random.random) -> bool:
    """Sticky per key; a request without one is routed on its own."""
    if share <= 0:
        return False
    return (key_point(key) if key else draw()) < share


def percentile(values, share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


class SideFigures:
    """Answers, errors and recent latencies of one side (champion or canary) of one champion/challenger pair."""

    def __init__(self):
        self.answers = self.errors = 0
        self.latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)

    def add(self, latency_ms: float, failed: bool) -> None:
        self.answers += 1
        self.errors += failed
        if not failed:
            self.latencies.append(latency_ms)

    def summary(self) -> dict:
        rate = self.errors / self.answers if self.answers else 0.0
        return {"requests": self.answers, "errors": self.errors, "error_rate": round(rate, 6),
                "p95_ms": round(percentile(self.latencies, 0.95), 3)}


class CanaryWatch:
    """Both sides' figures for the current pair of versions, and the verdict on the canary once it has min_requests
    answers. A new champion or challenger starts the figures afresh."""

    def __init__(self, settings: CanaryParams):
        self.settings, self.lock = settings, threading.Lock()
        self.pair: tuple[str, str] | None = None
        self.sides: dict[str, SideFigures] = {}
        self.verdict: str | None = None

    def add(self, pair: tuple[str, str], role: str, latency_ms: float, failed: bool) -> str | None:
        """Count one answer; returns the reason to roll the canary back, once, when it first holds."""
        with self.lock:
            if pair != self.pair:
                self.pair, self.sides = pair, {CHAMPION: SideFigures(), CANARY: SideFigures()}
                self.verdict = None
            self.sides[role].add(latency_ms, failed)
            if role != CANARY or self.verdict:
                return None
            self.verdict = judge_canary(self.sides[CHAMPION].summary(), self.sides[CANARY].summary(), self.settings)
            return self.verdict

    def summary(self) -> dict:
        with self.lock:
            return {role: side.summary() for role, side in self.sides.items()}


def judge_canary(champion: dict, canary: dict, settings: CanaryParams) -> str | None:
    """Why the canary must go back to share 0, or None. Judged once each side has min_requests answers of the same
    period (a champion with too few answers is no yardstick: at share 1 the canary is never judged)."""
    if min(canary["requests"], champion["requests"]) < settings.min_requests:
        return None
    reasons = []
    if canary["error_rate"] - champion["error_rate"] > settings.error_margin:
        reasons.append(f"error rate {canary['error_rate']:.2%} against the champion's {champion['error_rate']:.2%}, "
                       f"more than serve.canary.error_margin {settings.error_margin:.2%} worse")
    if canary["p95_ms"] - champion["p95_ms"] > settings.p95_margin_ms:
        reasons.append(f"p95 latency {canary['p95_ms']:.1f} ms against the champion's {champion['p95_ms']:.1f} ms, "
                       f"more than serve.canary.p95_margin_ms {settings.p95_margin_ms:g} ms slower")
    if not reasons:
        return None
    return f"canary rolled back after {canary['requests']} answers: " + "; ".join(reasons)

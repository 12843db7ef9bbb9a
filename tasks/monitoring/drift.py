"""Drift tests with scipy: maximum mean discrepancy on embeddings (a permutation p-value), chi-square on labels,
Kolmogorov-Smirnov on numbers. Each gives (statistic, p-value); the monitor calls drift where p < monitor.alpha.

Why scipy and not Evidently or alibi-detect: the tests are a few lines over scipy.stats (already pinned), while those
packages pull in their own stacks (alibi-detect: TensorFlow or a second torch backend; Evidently: its UI server) for
the same statistics.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class TestResult:
    statistic: float
    p_value: float
    reference_rows: int
    window_rows: int

    def to_dict(self) -> dict:
        return asdict(self)


def rbf_kernel(points: np.ndarray) -> np.ndarray:
    """exp(-d^2 / (2 s^2)) with s the median pairwise distance (the usual heuristic, so no scale to tune)."""
    squared = np.sum(points**2, axis=1)
    distances = np.maximum(squared[:, None] + squared[None, :] - 2 * points @ points.T, 0.0)
    median = np.median(distances[np.triu_indices_from(distances, k=1)]) if len(points) > 1 else 1.0
    return np.exp(-distances / (2 * max(float(median), 1e-12)))


def mmd_test(reference: np.ndarray, window: np.ndarray, permutations: int, seed: int) -> tuple[TestResult, np.ndarray]:
    """Squared MMD between the two samples with a permutation p-value (scipy.stats.permutation_test over which rows
    are which), and the witness value of each window row: how much nearer it sits to the window than to the
    reference (the highest are the most drifted examples)."""
    from scipy.stats import permutation_test

    kernel = rbf_kernel(np.vstack([reference, window]).astype(np.float64))
    n = len(reference)

    def mmd(first, second, axis=-1):
        single = np.ndim(first) == 1  # the observed statistic; permutations come in batches of rows
        first, second = np.atleast_2d(first).astype(int), np.atleast_2d(second).astype(int)
        within_a = kernel[first[:, :, None], first[:, None, :]].mean(axis=(1, 2))
        within_b = kernel[second[:, :, None], second[:, None, :]].mean(axis=(1, 2))
        across = kernel[first[:, :, None], second[:, None, :]].mean(axis=(1, 2))
        value = within_a + within_b - 2 * across
        return value[0] if single else value

    result = permutation_test((np.arange(n), np.arange(n, len(kernel))), mmd, permutation_type="independent",
                              n_resamples=permutations, alternative="greater", vectorized=True, batch=20,
                              random_state=seed)
    witness = kernel[n:, n:].mean(axis=1) - kernel[n:, :n].mean(axis=1)
    return TestResult(float(result.statistic), float(result.pvalue), n, len(window)), witness


def label_test(reference: list[str], window: list[str]) -> TestResult:
    """Chi-square test of the label counts (labels seen in either sample)."""
    from scipy.stats import chi2_contingency

    labels = sorted(set(reference) | set(window))
    table = np.array([[reference.count(label) for label in labels], [window.count(label) for label in labels]])
    if len(labels) < 2:
        return TestResult(0.0, 1.0, len(reference), len(window))
    statistic, p_value, *_ = chi2_contingency(table + 0.5)  # +0.5: a label one sample lacks still gets a test
    return TestResult(float(statistic), float(p_value), len(reference), len(window))


def distribution_test(reference, window) -> TestResult:
    """Two-sample Kolmogorov-Smirnov test of numbers (scores, lengths)."""
    from scipy.stats import ks_2samp

    reference, window = np.asarray(reference, dtype=float), np.asarray(window, dtype=float)
    result = ks_2samp(reference, window)
    return TestResult(float(result.statistic), float(result.pvalue), len(reference), len(window))

"""What the statistics tests share: closeness to scipy (1e-9 relative), seeded samples, PSI written out
term by term and bins counted one value at a time."""

from __future__ import annotations

import math

import numpy as np

from sonar.histograms import PSI_EPSILON

REL = 1e-9


def close(a: float | None, b: float) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=REL, abs_tol=0.0)


def rng(seed: int = 7) -> np.random.Generator:
    return np.random.default_rng(seed)


def direct_psi(ref_counts: list[int], cur_counts: list[int], eps: float = PSI_EPSILON) -> float:
    """PSI written out term by term, as in the textbook."""
    ref_total, cur_total = sum(ref_counts), sum(cur_counts)
    total = 0.0
    for r, c in zip(ref_counts, cur_counts, strict=True):
        r_share = r / ref_total or eps
        c_share = c / cur_total or eps
        total += (c_share - r_share) * math.log(c_share / r_share)
    return total


def bin_by_loop(values: np.ndarray, edges: tuple[float, ...]) -> list[int]:
    """Right-closed bins with open outer bins, counted one value at a time."""
    counts = [0] * (len(edges) + 1)
    for v in values:
        counts[sum(1 for e in edges if v > e)] += 1
    return counts

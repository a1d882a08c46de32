"""Kolmogorov–Smirnov and Wasserstein-1: the drift statistics of raw numeric values, from their
empirical CDFs. Pure numpy/scipy, no I/O; the tests hold each to scipy's on the same arrays (1e-9).

- Kolmogorov–Smirnov: ``scipy.stats.ks_2samp`` (two-sided, ``method="auto"``: exact p-value for small
  samples, asymptotic for large ones), computed with the Wasserstein distance from one merge of the
  sorted samples (:func:`compare_sorted`); the asymptotic p-value is scipy's ``kstwo.sf`` with its
  slowest branch summed vectorised (:func:`sonar.smirnov.kstwo_sf`).
- Wasserstein-1: ``scipy.stats.wasserstein_distance``; the normalised form divides by the reference's
  population standard deviation (ddof=0), floored at :data:`WASSERSTEIN_STD_FLOOR` so a constant reference
  does not divide by zero (Evidently uses the same floor).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats as _stats  # type: ignore[import-untyped]

from sonar.profile import numeric_values
from sonar.smirnov import kstwo_sf

WASSERSTEIN_STD_FLOOR = 1e-3
"""Lower bound on the reference standard deviation used to normalise the Wasserstein distance."""

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class KsResult:
    """The two-sample Kolmogorov–Smirnov statistic ``D`` and its p-value."""

    statistic: float
    p_value: float


@dataclass(frozen=True)
class EcdfComparison:
    """KS test and Wasserstein distance of two samples, computed from one pass over their merged ECDFs."""

    ks: KsResult
    wasserstein: float


KS_EXACT_MAX_N = 10_000
"""Up to this many values on the larger side scipy's ``ks_2samp(method="auto")`` computes an exact p-value;
above it, Smirnov's asymptotic distribution ``kstwo(round(m * n / (m + n)))``."""


def compare_ecdfs(reference: npt.ArrayLike, current: npt.ArrayLike) -> EcdfComparison:
    """The two-sided two-sample KS test and the Wasserstein-1 distance of the non-null values.

    Sorts each side once (an already sorted side, such as the reference values stored at release time, is
    only checked) and hands over to :func:`compare_sorted`.
    """
    return compare_sorted(sorted_numbers(reference), sorted_numbers(current))


def compare_sorted(ref: FloatArray, cur: FloatArray) -> EcdfComparison:
    """KS test and Wasserstein-1 distance of two sorted, NaN-free float64 samples.

    Both are functionals of ``D(x) = F_ref(x) - F_cur(x)``, the difference of the empirical CDFs: KS is the
    largest ``|D|``, Wasserstein the integral of ``|D|``. ``D`` is evaluated on the merged sorted values.
    The merge is a stable argsort of the two sorted runs (timsort merges them in linear time, about a
    third of the cost of a binary search per value); a running count of the reference values in merged
    order gives ``a_p`` reference values at or before position ``p`` and ``p + 1 - a_p`` current ones, so
    ``D_p = a_p / n_ref - (p + 1 - a_p) / n_cur``. At the last position of each run of equal values that is
    exactly scipy's ``searchsorted(..., side="right") / n`` difference, so the KS statistic is bit-for-bit
    scipy's; inside a run the width ``x_{p+1} - x_p`` is 0, so the Wasserstein sum has exactly scipy's
    terms (summed in a different order: equal to about 1e-15 relative).

    The p-value is scipy's too: for ``max(n_ref, n_cur) <= KS_EXACT_MAX_N`` ``ks_2samp`` itself is called
    (the exact distribution, cheap at that size); above it, ``kstwo.sf(D, round(m n / (m + n)))`` as
    ``ks_2samp(method="auto")`` does.
    """
    n1, n2 = ref.size, cur.size
    if n1 == 0 or n2 == 0:
        raise ValueError("KS and Wasserstein need at least one non-null value on each side")
    both = np.concatenate([ref, cur])
    order = np.argsort(both, kind="stable")  # a merge of two sorted runs; reference first among equals
    merged = both[order]
    is_ref = order < n1
    del both, order  # the arrays here are each as long as both samples: keep few alive at once
    ref_seen = np.cumsum(is_ref, dtype=np.int64)
    del is_ref
    cur_seen = np.arange(1, n1 + n2 + 1, dtype=np.int64)
    cur_seen -= ref_seen
    diff = ref_seen / n1
    del ref_seen
    diff -= cur_seen / n2
    del cur_seen
    widths = np.diff(merged)
    del merged
    run_ends = np.flatnonzero(widths != 0.0)  # last position of each run of equal values, but the final one
    at_ends = np.concatenate([diff[run_ends], diff[-1:]])
    statistic = float(max(min(max(-float(at_ends.min()), 0.0), 1.0), float(at_ends.max())))
    distance = float(np.dot(np.abs(diff[:-1]), widths))
    if max(n1, n2) <= KS_EXACT_MAX_N:
        p_value = float(_stats.ks_2samp(ref, cur).pvalue)
    else:
        m, n = max(n1, n2), min(n1, n2)
        p_value = kstwo_sf(statistic, int(np.round(m * n / (m + n))))
    return EcdfComparison(ks=KsResult(statistic=statistic, p_value=p_value), wasserstein=distance)


def sorted_numbers(values: npt.ArrayLike) -> FloatArray:
    """The non-null values as sorted float64; an input that is already sorted is not sorted again."""
    numbers = numeric_values(values)
    if numbers.size > 1 and not bool(np.all(numbers[1:] >= numbers[:-1])):
        numbers.sort()  # numeric_values returned a copy
    return numbers


def ks_test(reference: npt.ArrayLike, current: npt.ArrayLike) -> KsResult:
    """Two-sample two-sided Kolmogorov–Smirnov test on non-null values."""
    return compare_ecdfs(reference, current).ks


def wasserstein(reference: npt.ArrayLike, current: npt.ArrayLike) -> float:
    """The first Wasserstein distance between the empirical distributions of the non-null values."""
    return compare_ecdfs(reference, current).wasserstein


def normalised_wasserstein(distance: float, reference_std: float) -> float:
    """``distance / max(reference_std, WASSERSTEIN_STD_FLOOR)``: a shift measured in reference deviations."""
    return distance / max(reference_std, WASSERSTEIN_STD_FLOOR)

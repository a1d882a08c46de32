"""Drift statistics of counts: PSI and Jensen–Shannon on histograms over the same bins, Pearson's
chi-square on category counts, and the category and null shares. Pure numpy/scipy, no I/O; the tests
hold each to scipy's (or to the textbook sum, for PSI) on the same counts.

- Jensen–Shannon distance: ``scipy.spatial.distance.jensenshannon`` with the natural logarithm (scipy's and
  Evidently's default), so it lies in ``[0, sqrt(ln 2)] ≈ [0, 0.833]``.
- Chi-square test of homogeneity: Pearson's statistic on the 2 x K table (reference and current counts over
  the union of categories), ``K - 1`` degrees of freedom, no Yates correction — equal to
  ``scipy.stats.chi2_contingency(table, correction=False)``. A category seen only in production is just a
  column whose reference count is 0; its expected count is positive, so nothing divides by zero.
- PSI: ``sum((c_i - r_i) * ln(c_i / r_i))`` over bins, with ``r_i``, ``c_i`` the reference and current
  shares. An empty bin's share is replaced by :data:`PSI_EPSILON` before the sum (the shares are not
  renormalised), which bounds the contribution of a bin that only one side populates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats as _stats  # type: ignore[import-untyped]
from scipy.spatial import distance as _distance  # type: ignore[import-untyped]

from sonar.profile import category_counts, null_mask

PSI_EPSILON = 1e-4
"""Share given to an empty bin in PSI (Evidently's choice too): an empty bin adds at most
``|share - 1e-4| * ln(share / 1e-4)``, about 0.9 for a bin holding a tenth of the data."""

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ChiSquareResult:
    """Pearson's chi-square statistic, its p-value and degrees of freedom."""

    statistic: float
    p_value: float
    dof: int


def psi(
    reference_counts: npt.ArrayLike, current_counts: npt.ArrayLike, epsilon: float = PSI_EPSILON
) -> float:
    """Population stability index between two histograms on the same bins."""
    ref = _shares(reference_counts)
    cur = _shares(current_counts)
    ref = np.where(ref == 0.0, epsilon, ref)
    cur = np.where(cur == 0.0, epsilon, cur)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def jensen_shannon(reference_counts: npt.ArrayLike, current_counts: npt.ArrayLike) -> float:
    """Jensen–Shannon distance (natural log) between two histograms on the same bins."""
    ref = np.asarray(reference_counts, dtype=np.float64)
    cur = np.asarray(current_counts, dtype=np.float64)
    return float(_distance.jensenshannon(ref, cur))


def chi_square(reference_counts: npt.ArrayLike, current_counts: npt.ArrayLike) -> ChiSquareResult:
    """Pearson's chi-square test of homogeneity on the 2 x K table of counts.

    Categories empty on both sides are dropped. With fewer than two categories left the table has no degrees
    of freedom: the statistic is 0 and the p-value 1 (scipy's convention).
    """
    table = np.vstack([np.asarray(reference_counts, np.float64), np.asarray(current_counts, np.float64)])
    table = table[:, table.sum(axis=0) > 0]
    dof = table.shape[1] - 1
    total = table.sum()
    if dof < 1 or total == 0 or np.any(table.sum(axis=1) == 0):
        return ChiSquareResult(statistic=0.0, p_value=1.0, dof=max(dof, 0))
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / total
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return ChiSquareResult(statistic=statistic, p_value=float(_stats.chi2.sf(statistic, dof)), dof=dof)


def aligned_counts(
    reference: Mapping[str, int], current: Mapping[str, int]
) -> tuple[list[str], FloatArray, FloatArray]:
    """Reference and current counts over the union of categories (reference order, then unseen sorted)."""
    categories = list(reference) + sorted(set(current) - set(reference))
    ref = np.array([reference.get(c, 0) for c in categories], dtype=np.float64)
    cur = np.array([current.get(c, 0) for c in categories], dtype=np.float64)
    return categories, ref, cur


def unseen_share(reference: Mapping[str, int], current: Mapping[str, int]) -> float:
    """Share of current non-null values whose category the reference never saw."""
    total = sum(current.values())
    unseen = sum(n for c, n in current.items() if c not in reference)
    return unseen / total if total else 0.0


def frequencies(values: npt.ArrayLike) -> dict[str, int]:
    """Count per category key of the non-null values."""
    return category_counts(values)


def null_share(values: npt.ArrayLike) -> float:
    """Share of null values (0.0 for an empty array)."""
    mask = null_mask(values)
    return float(mask.mean()) if mask.size else 0.0


def _shares(counts: npt.ArrayLike) -> FloatArray:
    array = np.asarray(counts, dtype=np.float64)
    total = array.sum()
    return array / total if total else np.zeros_like(array)

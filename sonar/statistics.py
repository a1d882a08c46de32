"""Per-feature drift statistics: pure functions of arrays, counts and a reference profile.

Every statistic follows its textbook definition, and the tests hold it to scipy's on the same arrays:

- Kolmogorov–Smirnov: ``scipy.stats.ks_2samp`` (two-sided, ``method="auto"``: exact p-value for small
  samples, asymptotic for large ones), computed with the Wasserstein distance in one pass
  (:func:`compare_ecdfs`).
- Wasserstein-1: ``scipy.stats.wasserstein_distance``; the normalised form divides by the reference's
  population standard deviation (ddof=0), floored at :data:`WASSERSTEIN_STD_FLOOR` so a constant reference
  does not divide by zero (Evidently uses the same floor).
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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats as _stats  # type: ignore[import-untyped]
from scipy.spatial import distance as _distance  # type: ignore[import-untyped]

from sonar.profile import FeatureProfile, bin_counts, category_keys, null_mask, numeric_values

PSI_EPSILON = 1e-4
"""Share given to an empty bin in PSI (Evidently's choice too): an empty bin adds at most
``|share - 1e-4| * ln(share / 1e-4)``, about 0.9 for a bin holding a tenth of the data."""

WASSERSTEIN_STD_FLOOR = 1e-3
"""Lower bound on the reference standard deviation used to normalise the Wasserstein distance."""

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SignificanceResult:
    """A hypothesis test's statistic and p-value (``dof`` for chi-square)."""

    statistic: float
    p_value: float
    dof: int | None = None


@dataclass(frozen=True)
class EcdfComparison:
    """KS test and Wasserstein distance of two samples, computed from one pass over their merged ECDFs."""

    ks: SignificanceResult
    wasserstein: float


KS_EXACT_MAX_N = 10_000
"""Up to this many values on the larger side scipy's ``ks_2samp(method="auto")`` computes an exact p-value;
above it, Smirnov's asymptotic distribution ``kstwo(round(m * n / (m + n)))``."""


def compare_ecdfs(reference: npt.ArrayLike, current: npt.ArrayLike) -> EcdfComparison:
    """The two-sided two-sample KS test and the Wasserstein-1 distance of the non-null values.

    Both are functionals of the difference of the two empirical CDFs on the merged sorted values: KS is its
    largest absolute value, Wasserstein its integral. Computing them together sorts each sample once (scipy
    sorts three times across the two calls), which matters for million-row windows; the results equal
    ``scipy.stats.ks_2samp`` and ``scipy.stats.wasserstein_distance`` (the tests hold them to 1e-9). Small
    samples take scipy's exact p-value path through ``ks_2samp`` itself.
    """
    ref = np.sort(numeric_values(reference))
    cur = np.sort(numeric_values(current))
    n1, n2 = ref.size, cur.size
    if n1 == 0 or n2 == 0:
        raise ValueError("KS and Wasserstein need at least one non-null value on each side")
    merged = np.sort(np.concatenate([ref, cur]), kind="stable")  # a merge of two sorted runs
    diff = np.searchsorted(ref, merged, side="right") / n1 - np.searchsorted(cur, merged, side="right") / n2
    statistic = float(max(min(max(-float(diff.min()), 0.0), 1.0), float(diff.max())))
    distance = float(np.sum(np.abs(diff[:-1]) * np.diff(merged)))
    if max(n1, n2) <= KS_EXACT_MAX_N:
        p_value = float(_stats.ks_2samp(ref, cur).pvalue)
    else:
        m, n = max(n1, n2), min(n1, n2)
        p_value = float(np.clip(_stats.kstwo.sf(statistic, np.round(m * n / (m + n))), 0.0, 1.0))
    return EcdfComparison(ks=SignificanceResult(statistic=statistic, p_value=p_value), wasserstein=distance)


def ks_test(reference: npt.ArrayLike, current: npt.ArrayLike) -> SignificanceResult:
    """Two-sample two-sided Kolmogorov–Smirnov test on non-null values."""
    return compare_ecdfs(reference, current).ks


def wasserstein(reference: npt.ArrayLike, current: npt.ArrayLike) -> float:
    """The first Wasserstein distance between the empirical distributions of the non-null values."""
    return compare_ecdfs(reference, current).wasserstein


def normalised_wasserstein(distance: float, reference_std: float) -> float:
    """``distance / max(reference_std, WASSERSTEIN_STD_FLOOR)``: a shift measured in reference deviations."""
    return distance / max(reference_std, WASSERSTEIN_STD_FLOOR)


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


def chi_square(reference_counts: npt.ArrayLike, current_counts: npt.ArrayLike) -> SignificanceResult:
    """Pearson's chi-square test of homogeneity on the 2 x K table of counts.

    Categories empty on both sides are dropped. With fewer than two categories left the table has no degrees
    of freedom: the statistic is 0 and the p-value 1 (scipy's convention).
    """
    table = np.vstack([np.asarray(reference_counts, np.float64), np.asarray(current_counts, np.float64)])
    table = table[:, table.sum(axis=0) > 0]
    dof = table.shape[1] - 1
    total = table.sum()
    if dof < 1 or total == 0 or np.any(table.sum(axis=1) == 0):
        return SignificanceResult(statistic=0.0, p_value=1.0, dof=max(dof, 0))
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / total
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return SignificanceResult(statistic=statistic, p_value=float(_stats.chi2.sf(statistic, dof)), dof=dof)


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
    keys = category_keys(values)
    if keys.size == 0:
        return {}
    categories, counts = np.unique(keys, return_counts=True)
    return {str(c): int(n) for c, n in zip(categories.tolist(), counts.tolist(), strict=True)}


def null_share(values: npt.ArrayLike) -> float:
    """Share of null values (0.0 for an empty array)."""
    mask = null_mask(values)
    return float(mask.mean()) if mask.size else 0.0


def numeric_statistics(
    profile: FeatureProfile,
    current: npt.ArrayLike,
    reference: npt.ArrayLike | None = None,
) -> dict[str, Any]:
    """Every numeric statistic of one feature; KS and Wasserstein only when the raw ``reference`` is given.

    Keys: ``count``, ``ks_statistic``, ``ks_p_value``, ``wasserstein``, ``wasserstein_normalised``, ``psi``,
    ``jensen_shannon`` (each ``None`` when it cannot be computed: no values on one side).
    """
    numbers = numeric_values(current)
    out: dict[str, Any] = {
        "count": int(numbers.size),
        "ks_statistic": None,
        "ks_p_value": None,
        "wasserstein": None,
        "wasserstein_normalised": None,
        "psi": None,
        "jensen_shannon": None,
    }
    if numbers.size == 0 or profile.count == 0:
        return out
    if reference is not None:
        ref_numbers = numeric_values(reference)
        if ref_numbers.size:
            both = compare_ecdfs(ref_numbers, numbers)
            ks, distance = both.ks, both.wasserstein
            std = profile.std if profile.std is not None else float(ref_numbers.std())
            out.update(
                ks_statistic=ks.statistic,
                ks_p_value=ks.p_value,
                wasserstein=distance,
                wasserstein_normalised=normalised_wasserstein(distance, std),
            )
    current_counts = bin_counts(numbers, profile.edges)
    out["psi"] = psi(profile.histogram, current_counts)
    out["jensen_shannon"] = jensen_shannon(profile.histogram, current_counts)
    return out


def categorical_statistics(profile: FeatureProfile, current: npt.ArrayLike) -> dict[str, Any]:
    """Every categorical statistic of one feature.

    Keys: ``count``, ``chi_square``, ``chi_square_p_value``, ``chi_square_dof``, ``jensen_shannon``, ``psi``,
    ``unseen_share``, ``unseen_categories`` (sorted, at most 20).
    """
    current_freq = frequencies(current)
    count = sum(current_freq.values())
    out: dict[str, Any] = {
        "count": count,
        "chi_square": None,
        "chi_square_p_value": None,
        "chi_square_dof": None,
        "jensen_shannon": None,
        "psi": None,
        "unseen_share": None,
        "unseen_categories": [],
    }
    if count == 0 or profile.count == 0:
        return out
    categories, ref, cur = aligned_counts(profile.frequencies, current_freq)
    test = chi_square(ref, cur)
    unseen: Sequence[str] = sorted(c for c in current_freq if c not in profile.frequencies)
    out.update(
        chi_square=test.statistic,
        chi_square_p_value=test.p_value,
        chi_square_dof=test.dof,
        jensen_shannon=jensen_shannon(ref, cur),
        psi=psi(ref, cur),
        unseen_share=unseen_share(profile.frequencies, current_freq),
        unseen_categories=list(unseen[:20]),
    )
    return out


def _shares(counts: npt.ArrayLike) -> FloatArray:
    array = np.asarray(counts, dtype=np.float64)
    total = array.sum()
    return array / total if total else np.zeros_like(array)

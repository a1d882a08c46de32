"""Per-feature drift statistics: pure functions of arrays, counts and a reference profile.

Every statistic follows its textbook definition, and the tests hold it to scipy's on the same arrays:

- Kolmogorov–Smirnov: ``scipy.stats.ks_2samp`` (two-sided, ``method="auto"``: exact p-value for small
  samples, asymptotic for large ones), computed with the Wasserstein distance from one merge of the
  sorted samples (:func:`compare_sorted`); the asymptotic p-value is scipy's ``kstwo.sf`` with its
  slowest branch summed vectorised (:func:`kstwo_sf`).
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

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special as _special  # type: ignore[import-untyped]
from scipy import stats as _stats
from scipy.spatial import distance as _distance  # type: ignore[import-untyped]

from sonar.profile import (
    FeatureProfile,
    bin_counts,
    category_counts,
    null_mask,
    numeric_values,
    sorted_bin_counts,
)

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
    return EcdfComparison(ks=SignificanceResult(statistic=statistic, p_value=p_value), wasserstein=distance)


def kstwo_sf(d: float, n: int) -> float:
    """``scipy.stats.kstwo.sf(d, n)`` clipped to [0, 1]: the p-value of ``ks_2samp``'s asymptotic path.

    scipy takes one of several formulas by the size of ``n * d**2``. In the band ``2.2 <= n d^2 < 370``
    (with ``n > 140``, ``n d > 1`` and ``d < 0.5``) it returns twice the exact one-sided Smirnov
    probability, a sum of ``n (1 - d)`` terms that ``scipy.special.smirnov`` adds one by one in
    double-double arithmetic: about 0.25 s of CPU for ``n = 166,667`` (a million rows against 200,000),
    every drifted-but-not-wildly feature of a large window lands in that band, and the rest of the report
    costs less. There :func:`smirnov_sf` computes the same sum vectorised (equal to scipy's to about
    1e-12 relative); every other branch is scipy's own.
    """
    t = n * d
    if n > 140 and d < 0.5 and 1.0 < t < n - 1 and 2.2 <= t * d < 370.0:
        return min(max(2.0 * smirnov_sf(n, d), 0.0), 1.0)
    return float(np.clip(_stats.kstwo.sf(d, n), 0.0, 1.0))


def smirnov_sf(n: int, x: float) -> float:
    """``P(D+_n >= x)``, the exact one-sided KS tail (Birnbaum & Tingey), as ``scipy.special.smirnov``.

    ``x * sum_{j=0}^{floor(n (1 - x))} C(n, j) (1 - x - j/n)^(n - j) (x + j/n)^(j - 1)``, summed in log
    space. The log of each term is arranged so that nothing large cancels: with Stirling's formula
    ``log k! = k log k - k + log(2 pi k) / 2 + s(k)``, the term is
    ``log x + j log1p(n x / j) - log(x + j/n) + (n - j) log1p(-n x / (n - j))
    + log(n / (2 pi j (n - j))) / 2 + s(n) - s(j) - s(n - j)``, every part small or computed as a
    ``log1p``, so each term is accurate to about 1e-12 relative.
    """
    if not 0.0 < x < 1.0:
        return 1.0 if x <= 0.0 else 0.0
    j_max = int(np.floor(n * (1.0 - x)))
    while j_max >= 1 and 1.0 - x - j_max / n <= 0.0:
        j_max -= 1  # a zero term
    j = np.arange(1, j_max + 1, dtype=np.float64)
    rest = n - j
    logs = (
        math.log(x)
        + j * np.log1p(n * x / j)
        - np.log(x + j / n)
        + rest * np.log1p(-n * x / rest)
        + 0.5 * np.log(n / (2.0 * math.pi * j * rest))
        + _stirling_error(np.array([float(n)]))[0]
        - _stirling_error(j)
        - _stirling_error(rest)
    )
    logs = np.append(logs, n * math.log1p(-x))  # j = 0: x * (1 - x)^n * x^-1
    top = float(logs.max())
    log_sum = top + math.log(float(np.sum(np.exp(logs - top))))
    if log_sum < _LOG_SMALLEST_NORMAL:  # a subnormal result: only scipy's own sum has its last digits
        return float(_special.smirnov(n, x))
    return math.exp(log_sum)


_LOG_SMALLEST_NORMAL = math.log(np.finfo(np.float64).tiny)


def _stirling_error(k: FloatArray) -> FloatArray:
    """``s(k) = log k! - (k log k - k + log(2 pi k) / 2)`` for ``k >= 1``: its series from 16 on."""
    out = np.empty_like(k)
    small = k < 16
    ks = k[small]
    out[small] = _special.gammaln(ks + 1) - (ks * np.log(ks) - ks + 0.5 * np.log(2.0 * math.pi * ks))
    kl = k[~small]
    inv2 = 1.0 / (kl * kl)
    out[~small] = (1.0 / 12 - inv2 * (1.0 / 360 - inv2 * (1.0 / 1260 - inv2 * (1.0 / 1680)))) / kl
    return out


def sorted_numbers(values: npt.ArrayLike) -> FloatArray:
    """The non-null values as sorted float64; an input that is already sorted is not sorted again."""
    numbers = numeric_values(values)
    if numbers.size > 1 and not bool(np.all(numbers[1:] >= numbers[:-1])):
        numbers.sort()  # numeric_values returned a copy
    return numbers


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
    return category_counts(values)


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
    ref_numbers = sorted_numbers(reference) if reference is not None else None
    if ref_numbers is not None and ref_numbers.size:
        numbers = sorted_numbers(numbers)  # one sort serves KS, Wasserstein and the bins
        both = compare_sorted(ref_numbers, numbers)
        ks, distance = both.ks, both.wasserstein
        std = profile.std if profile.std is not None else float(ref_numbers.std())
        out.update(
            ks_statistic=ks.statistic,
            ks_p_value=ks.p_value,
            wasserstein=distance,
            wasserstein_normalised=normalised_wasserstein(distance, std),
        )
        current_counts = sorted_bin_counts(numbers, profile.edges)
    else:
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

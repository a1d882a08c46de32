"""Per-feature drift statistics: every statistic of one feature, from its values and reference profile.

Every statistic follows its textbook definition, and the tests hold it to scipy's on the same arrays. The
statistics themselves live by the data they read:

- :mod:`sonar.ecdf` — raw numeric values: Kolmogorov–Smirnov and Wasserstein-1 from one merge of the sorted
  samples (the asymptotic KS p-value in :mod:`sonar.smirnov`).
- :mod:`sonar.histograms` — counts: PSI and Jensen–Shannon on the reference decile bins or categories,
  Pearson's chi-square on categories, unseen and null shares.

Pure numpy/scipy: nothing here reads S3, SQL or gRPC.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy.typing as npt

from sonar.ecdf import compare_sorted, normalised_wasserstein, sorted_numbers
from sonar.histograms import aligned_counts, chi_square, frequencies, jensen_shannon, psi, unseen_share
from sonar.profile import FeatureProfile, bin_counts, numeric_values, sorted_bin_counts


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

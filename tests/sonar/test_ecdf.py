"""KS and Wasserstein against scipy on the same arrays (1e-9 relative; the KS statistic bit for bit)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats  # type: ignore[import-untyped]

from sonar.ecdf import compare_ecdfs, ks_test, normalised_wasserstein, wasserstein
from sonar.profile import reference_values_from_bytes, reference_values_to_bytes
from tests.sonar.scipy_checks import close, rng

NUMERIC_PAIRS = {
    # small samples: scipy takes the exact p-value path
    "small-exact": (rng(1).normal(0, 1, 40), rng(2).normal(0.3, 1, 55)),
    # integer data with ties
    "ties": (rng(3).integers(0, 12, 700).astype(float), rng(4).integers(1, 13, 900).astype(float)),
    # large samples: the asymptotic path
    "large-asymptotic": (rng(5).normal(0, 1, 30_000), rng(6).normal(0.02, 1.1, 25_000)),
    "skewed": (rng(7).lognormal(0, 1, 5_000), rng(8).lognormal(0.1, 0.9, 4_000)),
    # one side above scipy's exact limit of 10,000: asymptotic
    "mixed-sizes": (rng(9).normal(0, 1, 5_000), rng(10).normal(0, 1, 12_000)),
    # many ties on the asymptotic path
    "ties-large": (
        rng(11).integers(0, 50, 15_000).astype(float),
        rng(12).integers(0, 51, 20_000).astype(float),
    ),
    # identical samples: statistic 0, p-value 1
    "identical": (np.arange(100.0), np.arange(100.0)),
    # either side of scipy's exact limit (10,000 on the larger side)
    "exact-limit": (rng(13).normal(0, 1, 10_000), rng(14).normal(0.03, 1, 7_000)),
    "asymptotic-limit": (rng(15).normal(0, 1, 10_001), rng(16).normal(0.03, 1, 7_000)),
    # a production window larger than the reference, rounded values with heavy ties, a drift whose
    # asymptotic p-value falls in scipy's exact-Smirnov band (2.2 <= n D^2 < 370)
    "window-ties": (
        np.round(rng(17).normal(0, 1, 60_000), 2),
        np.round(rng(18).normal(0.03, 1, 300_000), 2),
    ),
}


@pytest.mark.parametrize("name", sorted(NUMERIC_PAIRS))
def test_ks_equals_scipy(name: str) -> None:
    ref, cur = NUMERIC_PAIRS[name]
    ours = ks_test(ref, cur)
    theirs = stats.ks_2samp(ref, cur)
    assert close(ours.statistic, float(theirs.statistic))
    assert close(ours.p_value, float(theirs.pvalue))


def test_ks_and_wasserstein_equal_scipy_on_a_million_rows_against_200k() -> None:
    """The benchmark's size: a small shift, so the p-value is in scipy's exact-Smirnov band."""
    ref = rng(19).normal(0, 1, 200_000)
    cur = np.concatenate([rng(20).normal(0.01, 1, 1_000_000), [np.nan] * 1000])
    ours = compare_ecdfs(ref, cur)
    clean = cur[~np.isnan(cur)]
    theirs = stats.ks_2samp(ref, clean)
    n = round(1_000_000 * 200_000 / 1_200_000)
    assert 2.2 <= n * float(theirs.statistic) ** 2 < 370  # the band of kstwo_sf's own sum
    assert ours.ks.statistic == float(theirs.statistic)  # bit for bit
    assert close(ours.ks.p_value, float(theirs.pvalue))
    assert close(ours.wasserstein, float(stats.wasserstein_distance(ref, clean)))


def test_sorted_reference_values_give_the_same_answer_as_raw_ones() -> None:
    raw = np.concatenate([rng(21).lognormal(0, 1, 50_000), [np.nan] * 100])
    stored = reference_values_from_bytes(reference_values_to_bytes({"x": np.sort(raw[~np.isnan(raw)])}))
    cur = rng(22).lognormal(0.05, 1, 80_000)
    assert compare_ecdfs(stored["x"], cur) == compare_ecdfs(raw, cur)


def test_compare_ecdfs_needs_values_on_both_sides() -> None:
    with pytest.raises(ValueError, match="non-null"):
        compare_ecdfs(np.array([1.0]), np.array([np.nan]))


def test_ks_ignores_nulls_like_dropping_them() -> None:
    ref, cur = NUMERIC_PAIRS["small-exact"]
    with_nulls = np.concatenate([cur, [np.nan, np.nan]])
    assert ks_test(ref, with_nulls) == ks_test(ref, cur)


@pytest.mark.parametrize("name", sorted(NUMERIC_PAIRS))
def test_wasserstein_equals_scipy(name: str) -> None:
    ref, cur = NUMERIC_PAIRS[name]
    raw = stats.wasserstein_distance(ref, cur)
    assert close(wasserstein(ref, cur), float(raw))
    assert close(normalised_wasserstein(wasserstein(ref, cur), float(np.std(ref))), float(raw / np.std(ref)))


def test_normalised_wasserstein_floors_a_constant_reference() -> None:
    assert normalised_wasserstein(0.5, 0.0) == pytest.approx(500.0)

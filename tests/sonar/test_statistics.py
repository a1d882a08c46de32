"""Sonar statistics against scipy on the same arrays (1e-9 relative); PSI against a direct computation."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from scipy import special, stats  # type: ignore[import-untyped]
from scipy.spatial.distance import jensenshannon  # type: ignore[import-untyped]

from sonar.profile import (
    bin_counts,
    profile_feature,
    reference_values_from_bytes,
    reference_values_to_bytes,
    sorted_bin_counts,
)
from sonar.statistics import (
    PSI_EPSILON,
    categorical_statistics,
    chi_square,
    compare_ecdfs,
    jensen_shannon,
    ks_test,
    kstwo_sf,
    normalised_wasserstein,
    numeric_statistics,
    psi,
    smirnov_sf,
    unseen_share,
    wasserstein,
)

REL = 1e-9


def close(a: float | None, b: float) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=REL, abs_tol=0.0)


def rng(seed: int = 7) -> np.random.Generator:
    return np.random.default_rng(seed)


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


@pytest.mark.parametrize("n", [141, 1_000, 14_286, 166_667, 833_333])
@pytest.mark.parametrize(
    "n_d_squared", [0.3, 1.0, 2.19, 2.2, 2.5, 5.0, 30.0, 150.0, 345.0, 369.0, 370.0, 400.0]
)
def test_kstwo_sf_equals_scipy_in_every_branch(n: int, n_d_squared: float) -> None:
    d = math.sqrt(n_d_squared / n)
    ours = kstwo_sf(d, n)
    theirs = float(np.clip(stats.kstwo.sf(d, n), 0.0, 1.0))
    assert ours == theirs or close(ours, theirs)


def test_smirnov_sf_equals_scipy_special_smirnov() -> None:
    for n, x in [(200, 0.11), (5_000, 0.03), (166_667, 0.0045), (166_667, 0.02), (1_000_000, 0.005)]:
        assert close(smirnov_sf(n, x), float(special.smirnov(n, x)))
    assert (smirnov_sf(10, 0.0), smirnov_sf(10, 1.0)) == (1.0, 0.0)


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


@pytest.mark.parametrize(
    ("ref", "cur"),
    [
        ([10, 20, 30, 40], [12, 18, 33, 37]),
        ([5, 0, 3, 9], [1, 7, 0, 2]),  # a bin empty on one side
        ([100, 1], [1, 100]),
    ],
)
def test_jensen_shannon_equals_scipy(ref: list[int], cur: list[int]) -> None:
    assert close(jensen_shannon(ref, cur), float(jensenshannon(ref, cur)))


def direct_psi(ref_counts: list[int], cur_counts: list[int], eps: float = PSI_EPSILON) -> float:
    """PSI written out term by term, as in the textbook."""
    ref_total, cur_total = sum(ref_counts), sum(cur_counts)
    total = 0.0
    for r, c in zip(ref_counts, cur_counts, strict=True):
        r_share = r / ref_total or eps
        c_share = c / cur_total or eps
        total += (c_share - r_share) * math.log(c_share / r_share)
    return total


@pytest.mark.parametrize(
    ("ref", "cur"),
    [
        ([10, 10, 10, 10, 10, 10, 10, 10, 10, 10], [8, 12, 9, 11, 10, 10, 7, 13, 10, 10]),
        ([50, 30, 20], [20, 30, 50]),
        ([50, 30, 20, 0], [40, 30, 20, 10]),  # a category unseen in the reference
        ([50, 0, 50], [0, 100, 0]),
    ],
)
def test_psi_equals_direct_computation(ref: list[int], cur: list[int]) -> None:
    assert close(psi(ref, cur), direct_psi(ref, cur))


def test_psi_of_identical_histograms_is_zero() -> None:
    assert psi([3, 4, 5], [30, 40, 50]) == 0.0


@pytest.mark.parametrize(
    "table",
    [
        [[30, 50, 20], [25, 60, 15]],
        [[300, 500, 200, 0], [250, 600, 150, 40]],  # an unseen category: reference count 0
        [[120, 80], [90, 110]],  # 2 x 2: dof 1, compared without Yates' correction
        [[1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]],
    ],
)
def test_chi_square_equals_chi2_contingency(table: list[list[int]]) -> None:
    ours = chi_square(table[0], table[1])
    statistic, p_value, dof, _ = stats.chi2_contingency(np.array(table), correction=False)
    assert close(ours.statistic, float(statistic))
    assert close(ours.p_value, float(p_value))
    assert ours.dof == dof


def test_chi_square_drops_empty_categories_and_handles_no_dof() -> None:
    assert chi_square([10, 0, 5], [7, 0, 9]) == chi_square([10, 5], [7, 9])
    single = chi_square([10], [20])
    assert (single.statistic, single.p_value, single.dof) == (0.0, 1.0, 0)


def test_binary_chi_square_is_the_two_proportion_z_test() -> None:
    ref, cur = [120, 80], [90, 110]
    n1, n2 = sum(ref), sum(cur)
    p1, p2 = ref[0] / n1, cur[0] / n2
    pooled = (ref[0] + cur[0]) / (n1 + n2)
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    assert close(chi_square(ref, cur).p_value, float(2 * stats.norm.sf(abs(z))))


def bin_by_loop(values: np.ndarray, edges: tuple[float, ...]) -> list[int]:
    """Right-closed bins with open outer bins, counted one value at a time."""
    counts = [0] * (len(edges) + 1)
    for v in values:
        counts[sum(1 for e in edges if v > e)] += 1
    return counts


def test_numeric_statistics_against_scipy_and_direct_psi() -> None:
    ref = rng(11).normal(10, 2, 4_000)
    cur = np.concatenate([rng(12).normal(10.5, 2.5, 3_000), [np.nan] * 30])
    profile = profile_feature("x", ref)
    out = numeric_statistics(profile, cur, ref)
    clean = cur[~np.isnan(cur)]
    ks = stats.ks_2samp(ref, clean)
    assert close(out["ks_statistic"], float(ks.statistic))
    assert close(out["ks_p_value"], float(ks.pvalue))
    assert close(out["wasserstein"], float(stats.wasserstein_distance(ref, clean)))
    assert close(out["wasserstein_normalised"], float(stats.wasserstein_distance(ref, clean) / np.std(ref)))
    ref_counts = bin_by_loop(ref, profile.edges)
    cur_counts = bin_by_loop(clean, profile.edges)
    assert list(profile.histogram) == ref_counts
    assert close(out["psi"], direct_psi(ref_counts, cur_counts))
    assert close(out["jensen_shannon"], float(jensenshannon(ref_counts, cur_counts)))
    assert out["count"] == 3_000


def test_bins_of_sorted_values_equal_bins_by_search() -> None:
    values = np.round(rng(23).normal(0, 1, 20_000), 1)  # values on the edges, ties
    edges = tuple(np.unique(np.quantile(values, [i / 10 for i in range(1, 10)])).tolist())
    assert sorted_bin_counts(np.sort(values), edges).tolist() == bin_counts(values, edges).tolist()
    head = values[:2_000]
    assert sorted_bin_counts(np.sort(head), edges).tolist() == bin_by_loop(head, edges)


def test_numeric_statistics_without_raw_reference_skip_ks_and_wasserstein() -> None:
    ref = rng(13).normal(0, 1, 1_000)
    out = numeric_statistics(profile_feature("x", ref), rng(14).normal(0, 1, 500))
    assert out["ks_statistic"] is None and out["wasserstein"] is None
    assert out["psi"] is not None and out["jensen_shannon"] is not None


def test_categorical_statistics_against_chi2_contingency() -> None:
    ref = np.array(["a"] * 500 + ["b"] * 300 + ["c"] * 200 + [None] * 50, dtype=object)
    cur = np.array([b"a"] * 400 + [b"b"] * 300 + [b"c"] * 150 + [b"new"] * 60 + [b"other"] * 2, dtype=object)
    profile = profile_feature("cat", ref)
    out = categorical_statistics(profile, cur)
    ref_counter = Counter(v for v in ref.tolist() if v is not None)
    cur_counter = Counter(v.decode() for v in cur.tolist())
    categories = ["a", "b", "c", "new", "other"]
    table = np.array([[ref_counter[c] for c in categories], [cur_counter[c] for c in categories]])
    statistic, p_value, dof, _ = stats.chi2_contingency(table, correction=False)
    assert close(out["chi_square"], float(statistic))
    assert close(out["chi_square_p_value"], float(p_value))
    assert out["chi_square_dof"] == dof == 4
    assert close(out["jensen_shannon"], float(jensenshannon(table[0], table[1])))
    assert close(out["psi"], direct_psi(table[0].tolist(), table[1].tolist()))
    assert close(out["unseen_share"], 62 / 912)
    assert out["unseen_categories"] == ["new", "other"]


def test_unseen_share() -> None:
    assert unseen_share({"a": 5}, {"a": 3, "z": 1}) == 0.25
    assert unseen_share({"a": 5}, {}) == 0.0

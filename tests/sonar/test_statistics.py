"""Every statistic of one feature against scipy on the same arrays (1e-9 relative); PSI against a direct
computation."""

from __future__ import annotations

from collections import Counter

import numpy as np
from scipy import stats  # type: ignore[import-untyped]
from scipy.spatial.distance import jensenshannon  # type: ignore[import-untyped]

from sonar.profile import bin_counts, profile_feature, sorted_bin_counts
from sonar.statistics import categorical_statistics, numeric_statistics
from tests.sonar.scipy_checks import bin_by_loop, close, direct_psi, rng


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

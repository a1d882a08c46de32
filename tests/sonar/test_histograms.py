"""Jensen–Shannon and chi-square against scipy on the same counts (1e-9 relative); PSI against a direct
computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats  # type: ignore[import-untyped]
from scipy.spatial.distance import jensenshannon  # type: ignore[import-untyped]

from sonar.histograms import chi_square, jensen_shannon, psi, unseen_share
from tests.sonar.scipy_checks import close, direct_psi


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


def test_unseen_share() -> None:
    assert unseen_share({"a": 5}, {"a": 3, "z": 1}) == 0.25
    assert unseen_share({"a": 5}, {}) == 0.0

"""The asymptotic KS p-value against scipy's `kstwo.sf` and `special.smirnov` in every branch (1e-9)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats  # type: ignore[import-untyped]

from sonar.smirnov import kstwo_sf, smirnov_sf
from tests.sonar.scipy_checks import close


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

"""Benjamini–Hochberg against a hand computation and scipy's `false_discovery_control`; Bonferroni."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats  # type: ignore[import-untyped]

from sonar.corrections import benjamini_hochberg, bonferroni


def test_benjamini_hochberg_matches_hand_computation() -> None:
    # sorted: 0.005 (x5/1 = 0.025), 0.01 (x5/2 = 0.025), 0.03 (x5/3 = 0.05), 0.04 (x5/4 = 0.05), 0.2 (x5/5)
    p = [0.01, 0.04, 0.03, 0.005, 0.2]
    assert benjamini_hochberg(p).tolist() == pytest.approx([0.025, 0.05, 0.05, 0.025, 0.2], rel=1e-12)
    # step-up: 0.04 x 3/2 = 0.06 is lowered to the next rank's 0.045 x 3/3
    assert benjamini_hochberg([0.04, 0.01, 0.045]).tolist() == pytest.approx([0.045, 0.03, 0.045], rel=1e-12)
    assert benjamini_hochberg([0.9, 0.8]).tolist() == [0.9, 0.9]
    assert benjamini_hochberg([]).size == 0
    # and scipy agrees
    random_p = np.random.default_rng(0).random(50) ** 3
    np.testing.assert_allclose(
        benjamini_hochberg(random_p), stats.false_discovery_control(random_p), rtol=1e-12
    )


def test_bonferroni() -> None:
    assert bonferroni([0.01, 0.3]).tolist() == [0.02, 0.6]

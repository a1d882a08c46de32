"""The outlier share: rows with any numeric feature outside the reference's central 99% range."""

from __future__ import annotations

import numpy as np
import pytest

from sonar.outliers import outlier_share
from sonar.profile import FeatureProfile


def test_outlier_share_counts_rows_with_any_numeric_feature_outside_the_central_99() -> None:
    profiles = {
        "a": FeatureProfile("a", "numeric", 100, 100, outlier_range=(0.0, 10.0)),
        "b": FeatureProfile("b", "numeric", 100, 100, outlier_range=(-1.0, 1.0)),
        "c": FeatureProfile("c", "categorical", 100, 100, frequencies={"x": 100}),
    }
    current = {
        "a": np.array([5.0, 11.0, 5.0, np.nan, -0.5, 10.0]),
        "b": np.array([0.0, 0.0, 2.0, np.nan, 0.0, -1.0]),
        "c": np.array(["x", "y", "z", "x", "x", "x"], dtype=object),
    }
    # rows 1 (a high), 2 (b high), 4 (a low) are outliers; the null row and the boundary row are not
    assert outlier_share(profiles, current) == pytest.approx(3 / 6)

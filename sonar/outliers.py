"""The outlier share: the share of current rows in which any numeric feature lies outside the reference's
central 99% range (below its 0.5% quantile or above its 99.5% quantile); nulls are not outliers. In a
stable world it is about ``1 - 0.99 ** k`` for ``k`` independent numeric features, so it is reported, not
thresholded.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from sonar.profile import FeatureProfile, row_count


def outlier_share(profiles: Mapping[str, FeatureProfile], current: Mapping[str, npt.ArrayLike]) -> float:
    """Share of current rows with any numeric feature outside its reference central 99% range."""
    rows = row_count(current)
    if rows == 0:
        return 0.0
    outside = np.zeros(rows, dtype=np.bool_)
    for name, profile in profiles.items():
        if name in current:
            mask = outlier_mask(profile, current[name])
            if mask is not None:
                outside |= mask
    return float(outside.mean())


def outlier_mask(profile: FeatureProfile, values: npt.ArrayLike) -> npt.NDArray[np.bool_] | None:
    """True per row whose value lies outside the reference's central 99% range (``None``: not numeric)."""
    if profile.kind != "numeric" or profile.outlier_range is None:
        return None
    array = np.asarray(values)
    if array.dtype.kind == "O":
        array = np.array([np.nan if v is None else v for v in array.tolist()], dtype=np.float64)
    numbers = array.astype(np.float64, copy=False)
    low, high = profile.outlier_range
    with np.errstate(invalid="ignore"):
        mask: npt.NDArray[np.bool_] = (numbers < low) | (numbers > high)  # NaN compares False
    return mask

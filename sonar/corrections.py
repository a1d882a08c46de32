"""Multiple-testing corrections of the p-values of one drift report's features.

Benjamini–Hochberg (false discovery rate) is the default, Bonferroni (family-wise error) the stricter
option; why a correction at all is in :mod:`sonar.drift`'s docstring (without one, a 20-feature model in a
stable world would show a drifted feature in about 64% of reports at ``alpha = 0.05``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

Correction = Literal["benjamini-hochberg", "bonferroni", "none"]


def benjamini_hochberg(p_values: Sequence[float] | npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Benjamini–Hochberg adjusted p-values (q-values), in the input order.

    ``q_(i) = min_{j >= i} min(1, p_(j) * m / j)`` over the ascending p-values; rejecting ``q < alpha``
    controls the false discovery rate at ``alpha`` (the step-up procedure).
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    out = np.empty(m, dtype=np.float64)
    out[order] = adjusted
    return out


def bonferroni(p_values: Sequence[float] | npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Bonferroni adjusted p-values: ``min(1, p * m)``."""
    p = np.asarray(p_values, dtype=np.float64)
    return np.minimum(p * p.size, 1.0)


def adjust_p_values(p_values: Sequence[float], correction: Correction) -> npt.NDArray[np.float64]:
    """Apply the named correction."""
    if correction == "benjamini-hochberg":
        return benjamini_hochberg(p_values)
    if correction == "bonferroni":
        return bonferroni(p_values)
    return np.asarray(p_values, dtype=np.float64)

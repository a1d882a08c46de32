"""The asymptotic p-value of the two-sample KS test, as scipy computes it, with its slowest branch
vectorised. Pure numpy/scipy; the tests hold both functions to scipy's in every branch (1e-9).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import special as _special  # type: ignore[import-untyped]
from scipy import stats as _stats


def kstwo_sf(d: float, n: int) -> float:
    """``scipy.stats.kstwo.sf(d, n)`` clipped to [0, 1]: the p-value of ``ks_2samp``'s asymptotic path.

    scipy takes one of several formulas by the size of ``n * d**2``. In the band ``2.2 <= n d^2 < 370``
    (with ``n > 140``, ``n d > 1`` and ``d < 0.5``) it returns twice the exact one-sided Smirnov
    probability, a sum of ``n (1 - d)`` terms that ``scipy.special.smirnov`` adds one by one in
    double-double arithmetic: about 0.25 s of CPU for ``n = 166,667`` (a million rows against 200,000),
    every drifted-but-not-wildly feature of a large window lands in that band, and the rest of the report
    costs less. There :func:`smirnov_sf` computes the same sum vectorised (equal to scipy's to about
    1e-12 relative); every other branch is scipy's own.
    """
    t = n * d
    if n > 140 and d < 0.5 and 1.0 < t < n - 1 and 2.2 <= t * d < 370.0:
        return min(max(2.0 * smirnov_sf(n, d), 0.0), 1.0)
    return float(np.clip(_stats.kstwo.sf(d, n), 0.0, 1.0))


def smirnov_sf(n: int, x: float) -> float:
    """``P(D+_n >= x)``, the exact one-sided KS tail (Birnbaum & Tingey), as ``scipy.special.smirnov``.

    ``x * sum_{j=0}^{floor(n (1 - x))} C(n, j) (1 - x - j/n)^(n - j) (x + j/n)^(j - 1)``, summed in log
    space. The log of each term is arranged so that nothing large cancels: with Stirling's formula
    ``log k! = k log k - k + log(2 pi k) / 2 + s(k)``, the term is
    ``log x + j log1p(n x / j) - log(x + j/n) + (n - j) log1p(-n x / (n - j))
    + log(n / (2 pi j (n - j))) / 2 + s(n) - s(j) - s(n - j)``, every part small or computed as a
    ``log1p``, so each term is accurate to about 1e-12 relative.
    """
    if not 0.0 < x < 1.0:
        return 1.0 if x <= 0.0 else 0.0
    j_max = int(np.floor(n * (1.0 - x)))
    while j_max >= 1 and 1.0 - x - j_max / n <= 0.0:
        j_max -= 1  # a zero term
    j = np.arange(1, j_max + 1, dtype=np.float64)
    rest = n - j
    logs = (
        math.log(x)
        + j * np.log1p(n * x / j)
        - np.log(x + j / n)
        + rest * np.log1p(-n * x / rest)
        + 0.5 * np.log(n / (2.0 * math.pi * j * rest))
        + _stirling_error(np.array([float(n)]))[0]
        - _stirling_error(j)
        - _stirling_error(rest)
    )
    logs = np.append(logs, n * math.log1p(-x))  # j = 0: x * (1 - x)^n * x^-1
    top = float(logs.max())
    log_sum = top + math.log(float(np.sum(np.exp(logs - top))))
    if log_sum < _LOG_SMALLEST_NORMAL:  # a subnormal result: only scipy's own sum has its last digits
        return float(_special.smirnov(n, x))
    return math.exp(log_sum)


_LOG_SMALLEST_NORMAL = math.log(np.finfo(np.float64).tiny)


def _stirling_error(k: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``s(k) = log k! - (k log k - k + log(2 pi k) / 2)`` for ``k >= 1``: its series from 16 on."""
    out = np.empty_like(k)
    small = k < 16
    ks = k[small]
    out[small] = _special.gammaln(ks + 1) - (ks * np.log(ks) - ks + 0.5 * np.log(2.0 * math.pi * ks))
    kl = k[~small]
    inv2 = 1.0 / (kl * kl)
    out[~small] = (1.0 / 12 - inv2 * (1.0 / 360 - inv2 * (1.0 / 1260 - inv2 * (1.0 / 1680)))) / kl
    return out

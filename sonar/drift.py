"""The drift decision: which statistic decides for each feature, corrections, and the report's verdict.

Default method per feature (:func:`choose_method`), compared with Evidently's default algorithm:

==============  ===========================  ====================================  =====================
feature kind    size ``n``                   Hydro (threshold)                      Evidently
==============  ===========================  ====================================  =====================
numeric         ``n <= 1000``                Kolmogorov–Smirnov (BH p < 0.05)       KS (p < 0.05)
numeric         ``n > 1000``                 Wasserstein / ref. std (> 0.1)         same, 0.1
categorical     ``n <= 1000``                chi-square homogeneity (BH p < 0.05)   chi-square; Z-test if
                                                                                    binary (p < 0.05)
categorical     ``n > 1000``                 Jensen–Shannon distance (> 0.1)        same, 0.1
==============  ===========================  ====================================  =====================

Why: a p-value answers "could this be sampling noise?", which is the right question while samples are
small; as they grow, any real but negligible difference gets a tiny p-value and every feature of a busy
model would be flagged, so large samples switch to an effect size with a fixed threshold. A Wasserstein
distance of 0.1 reference standard deviations is a shift of the whole distribution by a tenth of its spread;
a Jensen–Shannon distance of 0.1 (natural log) is roughly a 10-point move of probability mass between
categories. Both thresholds are Evidently's, so the two tools agree on the same data.

Evidently's rule (checked in its source, 0.7.23 ``_get_default_stattest``): the size is the *reference* row
count; a numeric column with at most 5 distinct values is treated as categorical; binary categorical columns
get a two-proportion Z-test. Four departures from Evidently, all deliberate:

- ``n`` is the smaller of the reference and current non-null counts, not the reference size alone. The
  power of a two-sample test follows ``m * n / (m + n)``, about ``min(m, n)``, and so does the noise of a
  distance: against a 200,000-row standard normal reference, windows drawn from that very distribution give
  a normalised Wasserstein distance above 0.1 in 72% of 100-row windows, 16% of 300-row windows and 0.3% of
  1000-row windows (seeded simulation). Evidently would use Wasserstein for all of them because its
  reference is large; Hydro uses KS up to 1000 rows. The price: one version's method can change between a
  quiet and a busy window, so each feature's result names its method.
- Binary categorical features use the same chi-square test, not a separate Z-test: on a 2 x 2 table without
  continuity correction Pearson's statistic is exactly the square of the two-proportion Z statistic, so the
  p-values are identical.
- A numeric column with few distinct values stays numeric (KS / Wasserstein handle ties exactly); the
  signature's ``profile: categorical`` says where the owner means categories.
- Where p-values decide (KS and chi-square features), they are corrected for multiple testing across the
  report's features with Benjamini–Hochberg (false discovery rate ``alpha``) by default; Evidently applies no
  correction. Without one, a model with 20 features in a stable world would show a "drifted" feature in
  about 64% of reports at ``alpha = 0.05``. Bonferroni (family-wise error) is the stricter option.

When the raw reference values of a numeric feature are not supplied (KS and Wasserstein need them), the
method falls back to PSI on the reference decile bins with threshold 0.1 (Evidently's PSI default; 0.1–0.25 is
the usual "moderate shift" band).

Every feature is also checked for a change in null share: an absolute change above 0.05 (five percentage
points) flags the feature on its own. A feature is drifted if its method or its null share flags it. The
dataset has drifted when at least half the features have (Evidently's ``drift_share`` default of 0.5).

The outlier share (:mod:`sonar.outliers`) is reported beside the verdict, not thresholded.

Prediction drift is the same computation: the caller profiles the output fields as features.

Every statistic is computed for every feature, whichever decides (the report shows them all): for a numeric
feature the KS statistic and p-value, the raw and normalised Wasserstein distance, PSI and Jensen–Shannon
on the reference decile bins. Speed on large windows comes from the reference side being prepared once
(sorted values, :func:`sonar.profile.reference_values`), one sort per production column from which KS,
Wasserstein and the bins all follow (:func:`sonar.ecdf.compare_sorted`), and one thread per CPU
across features (numpy's sorts and merges release the GIL). bench/drift.py measures it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from sonar.corrections import Correction, adjust_p_values
from sonar.drift_report import DriftReport, FeatureDrift, Method
from sonar.histograms import null_share
from sonar.outliers import outlier_mask
from sonar.profile import FeatureKind, FeatureProfile, row_count
from sonar.statistics import categorical_statistics, numeric_statistics

P_VALUE_METHODS: frozenset[str] = frozenset({"ks", "chi_square"})
NUMERIC_METHODS: frozenset[str] = frozenset({"ks", "wasserstein", "psi", "jensen_shannon"})
CATEGORICAL_METHODS: frozenset[str] = frozenset({"chi_square", "jensen_shannon", "psi"})

SMALL_SAMPLE = 1000
"""At or below this many values on the smaller side, p-value tests decide; above it, distances."""

DEFAULT_THRESHOLDS: Mapping[str, float] = {"wasserstein": 0.1, "jensen_shannon": 0.1, "psi": 0.1}
"""Distance thresholds: a feature drifts when its score is above its method's threshold."""

_SCORE_KEY: Mapping[str, str] = {
    "ks": "ks_p_value",
    "chi_square": "chi_square_p_value",
    "wasserstein": "wasserstein_normalised",
    "jensen_shannon": "jensen_shannon",
    "psi": "psi",
}


@dataclass(frozen=True)
class DriftConfig:
    """The knobs of a drift job; the defaults are documented in the module docstring."""

    alpha: float = 0.05
    """Significance (KS, chi-square): the false discovery rate under Benjamini–Hochberg."""
    thresholds: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    """Per distance method, the score above which a feature drifts."""
    small_sample: int = SMALL_SAMPLE
    """Largest ``min(reference count, current count)`` decided by a p-value test."""
    correction: Correction = "benjamini-hochberg"
    """Multiple-testing correction across the p-value features of one report."""
    null_share_threshold: float = 0.05
    """Absolute change in null share above which a feature drifts."""
    drift_share: float = 0.5
    """Share of drifted features at or above which the dataset has drifted."""
    methods: Mapping[str, Method] = field(default_factory=dict)
    """Per-feature method overrides, by feature name."""


def choose_method(
    kind: FeatureKind,
    reference_count: int,
    current_count: int,
    *,
    has_reference_values: bool = True,
    small_sample: int = SMALL_SAMPLE,
) -> Method:
    """The default method for a feature of this kind and size (see the module docstring)."""
    small = min(reference_count, current_count) <= small_sample
    if kind == "categorical":
        return "chi_square" if small else "jensen_shannon"
    if not has_reference_values:
        return "psi"
    return "ks" if small else "wasserstein"


def detect_drift(
    profiles: Mapping[str, FeatureProfile],
    current: Mapping[str, npt.ArrayLike],
    reference: Mapping[str, npt.ArrayLike] | None = None,
    config: DriftConfig | None = None,
    *,
    workers: int | None = None,
) -> DriftReport:
    """Compare a window of production data with the reference profile, feature by feature.

    ``profiles`` is the reference profile; ``current`` holds one equal-length column per feature (more
    columns are ignored); ``reference`` holds, per numeric feature, the reference values that KS and
    Wasserstein need: best the sorted values of :func:`sonar.profile.reference_values` (never sorted
    again), or the raw columns. Features of the profile missing from ``current`` are listed in
    ``missing_features``. Output fields are features like any other: profile them with the inputs and pass
    their columns in ``current`` (prediction drift).

    Features are computed in ``workers`` threads (default: one per CPU); numpy releases the GIL in the
    sorts and merges that dominate, so two cores come close to halving a large window's time.
    """
    config = config or DriftConfig()
    reference = reference or {}
    rows = row_count(current)
    missing = tuple(name for name in profiles if name not in current)
    present = [(name, profile) for name, profile in profiles.items() if name in current]

    def one(item: tuple[str, FeatureProfile]) -> dict[str, Any]:
        name, profile = item
        return _feature_partial(name, profile, current[name], reference.get(name), config)

    count = max(1, min(workers or os.cpu_count() or 1, len(present)))
    if count == 1:
        partial = [one(item) for item in present]
    else:
        with ThreadPoolExecutor(max_workers=count, thread_name_prefix="sonar-drift") as pool:
            partial = list(pool.map(one, present))

    outside = np.zeros(rows, dtype=np.bool_)
    for p in partial:
        if p["outliers"] is not None:
            outside |= p["outliers"]

    tested = [i for i, p in enumerate(partial) if p["method"] in P_VALUE_METHODS and p["score"] is not None]
    adjusted = adjust_p_values([partial[i]["score"] for i in tested], config.correction)
    adjusted_by_index = dict(zip(tested, adjusted.tolist(), strict=True))

    results: list[FeatureDrift] = []
    for i, p in enumerate(partial):
        profile = p["profile"]
        method: Method | None = p["method"]
        score: float | None = p["score"]
        if method in P_VALUE_METHODS:
            threshold = config.alpha
            q = adjusted_by_index.get(i)
            value_drift = q is not None and q < config.alpha
            p_value, p_adjusted = score, q
        else:
            threshold = config.thresholds.get(method, DEFAULT_THRESHOLDS[method]) if method else 0.0
            value_drift = score is not None and score > threshold
            p_value, p_adjusted = None, None
        null_ref = profile.null_share
        results.append(
            FeatureDrift(
                name=profile.name,
                kind=profile.kind,
                method=method,
                score=score,
                threshold=threshold,
                p_value=p_value,
                p_value_adjusted=p_adjusted,
                value_drift=value_drift,
                null_share_reference=null_ref,
                null_share_current=p["null_current"],
                null_drift=abs(p["null_current"] - null_ref) > config.null_share_threshold,
                statistics=p["stats"],
            )
        )
    results.sort(key=lambda r: not r.drifted)  # stable: drifted first, profile order within each group
    return DriftReport(
        features=tuple(results),
        rows=rows,
        outlier_share=float(outside.mean()) if rows else 0.0,
        drift_share=config.drift_share,
        correction=config.correction,
        missing_features=missing,
    )


def _feature_partial(
    name: str,
    profile: FeatureProfile,
    values: npt.ArrayLike,
    raw_reference: npt.ArrayLike | None,
    config: DriftConfig,
) -> dict[str, Any]:
    """One feature's statistics, default method and score, null share and outlier rows."""
    if profile.kind == "numeric":
        stats = numeric_statistics(profile, values, raw_reference)
    else:
        stats = categorical_statistics(profile, values)
    chosen = _method_for(name, profile, stats["count"], raw_reference is not None, config)
    return {
        "profile": profile,
        "method": chosen,
        "score": stats[_SCORE_KEY[chosen]] if chosen is not None else None,
        "stats": stats,
        "null_current": null_share(values),
        "outliers": outlier_mask(profile, values),
    }


def _method_for(
    name: str, profile: FeatureProfile, current_count: int, has_reference: bool, config: DriftConfig
) -> Method | None:
    if current_count == 0 or profile.count == 0:
        return None
    override = config.methods.get(name)
    if override is not None:
        allowed = NUMERIC_METHODS if profile.kind == "numeric" else CATEGORICAL_METHODS
        if override not in allowed:
            raise ValueError(f"feature {name!r}: method {override!r} does not apply to {profile.kind} data")
        if override in ("ks", "wasserstein") and not has_reference:
            raise ValueError(f"feature {name!r}: method {override!r} needs the raw reference values")
        return override
    return choose_method(
        profile.kind,
        profile.count,
        current_count,
        has_reference_values=has_reference,
        small_sample=config.small_sample,
    )

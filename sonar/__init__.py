"""Sonar's statistics core: reference profiles, drift statistics and the drift decision.

Pure numpy/scipy: nothing here reads S3, SQL or gRPC; the job that feeds it does the I/O.

- :mod:`sonar.profile` — the reference profile per feature, JSON-able.
- :mod:`sonar.statistics` — every statistic of one feature, from :mod:`sonar.ecdf` (KS and Wasserstein,
  the KS p-value in :mod:`sonar.smirnov`) and :mod:`sonar.histograms` (PSI, Jensen–Shannon, chi-square,
  unseen and null shares).
- :mod:`sonar.drift` — default method per feature, thresholds, multiple-testing correction, the verdict.

The names below are imported on first use: importing any `sonar.*` module (ingest, for one) must not
load scipy, which only the drift jobs need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sonar.drift import (
        DriftConfig,
        DriftReport,
        FeatureDrift,
        benjamini_hochberg,
        bonferroni,
        choose_method,
        detect_drift,
        outlier_share,
    )
    from sonar.profile import (
        FeatureProfile,
        profile_dataset,
        profile_feature,
        profiles_from_dict,
        profiles_to_dict,
    )

_MODULES = {
    "DriftConfig": "sonar.drift",
    "DriftReport": "sonar.drift",
    "FeatureDrift": "sonar.drift",
    "benjamini_hochberg": "sonar.drift",
    "bonferroni": "sonar.drift",
    "choose_method": "sonar.drift",
    "detect_drift": "sonar.drift",
    "outlier_share": "sonar.drift",
    "FeatureProfile": "sonar.profile",
    "profile_dataset": "sonar.profile",
    "profile_feature": "sonar.profile",
    "profiles_from_dict": "sonar.profile",
    "profiles_to_dict": "sonar.profile",
}

__all__ = [
    "DriftConfig",
    "DriftReport",
    "FeatureDrift",
    "FeatureProfile",
    "benjamini_hochberg",
    "bonferroni",
    "choose_method",
    "detect_drift",
    "outlier_share",
    "profile_dataset",
    "profile_feature",
    "profiles_from_dict",
    "profiles_to_dict",
]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'sonar' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

"""Sonar's statistics core: reference profiles, drift statistics and the drift decision.

Pure numpy/scipy: nothing here reads S3, SQL or gRPC; the job that feeds it does the I/O.

- :mod:`sonar.profile` — the reference profile per feature, JSON-able.
- :mod:`sonar.statistics` — every statistic of one feature, from :mod:`sonar.ecdf` (KS and Wasserstein,
  the KS p-value in :mod:`sonar.smirnov`) and :mod:`sonar.histograms` (PSI, Jensen–Shannon, chi-square,
  unseen and null shares).
- :mod:`sonar.drift` — default method per feature, thresholds, the verdict; the multiple-testing
  correction in :mod:`sonar.corrections`, the outlier share in :mod:`sonar.outliers`, the report's shape in
  :mod:`sonar.drift_report`.

The names below are imported on first use: importing any `sonar.*` module (ingest, for one) must not
load scipy, which only the drift jobs need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sonar.corrections import benjamini_hochberg, bonferroni
    from sonar.drift import DriftConfig, choose_method, detect_drift
    from sonar.drift_report import DriftReport, FeatureDrift
    from sonar.outliers import outlier_share
    from sonar.profile import (
        FeatureProfile,
        profile_dataset,
        profile_feature,
        profiles_from_dict,
        profiles_to_dict,
    )

_MODULES = {
    "DriftConfig": "sonar.drift",
    "DriftReport": "sonar.drift_report",
    "FeatureDrift": "sonar.drift_report",
    "benjamini_hochberg": "sonar.corrections",
    "bonferroni": "sonar.corrections",
    "choose_method": "sonar.drift",
    "detect_drift": "sonar.drift",
    "outlier_share": "sonar.outliers",
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

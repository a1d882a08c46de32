"""Sonar's statistics core: reference profiles, drift statistics and the drift decision.

Pure numpy/scipy: nothing here reads S3, SQL or gRPC; the job that feeds it does the I/O.

- :mod:`sonar.profile` — the reference profile per feature, JSON-able.
- :mod:`sonar.statistics` — KS, Wasserstein, PSI, Jensen–Shannon, chi-square, unseen and null shares.
- :mod:`sonar.drift` — default method per feature, thresholds, multiple-testing correction, the verdict.
"""

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

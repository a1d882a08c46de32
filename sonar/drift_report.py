"""A drift report's shape: one `FeatureDrift` per feature and the `DriftReport` verdict, both JSON-able.

How each field is decided (methods, thresholds, corrections) is :mod:`sonar.drift`'s docstring.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sonar.corrections import Correction
from sonar.profile import FeatureKind

Method = Literal["ks", "wasserstein", "psi", "jensen_shannon", "chi_square"]


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's result: the deciding method and score, the null-share check, every statistic."""

    name: str
    kind: FeatureKind
    method: Method | None
    score: float | None
    threshold: float
    p_value: float | None
    p_value_adjusted: float | None
    value_drift: bool
    null_share_reference: float
    null_share_current: float
    null_drift: bool
    statistics: Mapping[str, Any]

    @property
    def null_share_change(self) -> float:
        """Current minus reference null share (positive: more nulls in production)."""
        return self.null_share_current - self.null_share_reference

    @property
    def drifted(self) -> bool:
        """Flagged by its method or by its null share."""
        return self.value_drift or self.null_drift

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "name": self.name,
            "kind": self.kind,
            "method": self.method,
            "score": self.score,
            "threshold": self.threshold,
            "p_value": self.p_value,
            "p_value_adjusted": self.p_value_adjusted,
            "value_drift": self.value_drift,
            "null_share_reference": self.null_share_reference,
            "null_share_current": self.null_share_current,
            "null_share_change": self.null_share_change,
            "null_drift": self.null_drift,
            "drifted": self.drifted,
            "statistics": dict(self.statistics),
        }


@dataclass(frozen=True)
class DriftReport:
    """The numeric part of a drift report: per-feature results (drifted first) and the verdict."""

    features: tuple[FeatureDrift, ...]
    rows: int
    outlier_share: float
    drift_share: float
    correction: Correction
    missing_features: tuple[str, ...] = ()

    @property
    def drifted_features(self) -> list[str]:
        return [f.name for f in self.features if f.drifted]

    @property
    def share_drifted(self) -> float:
        return len(self.drifted_features) / len(self.features) if self.features else 0.0

    @property
    def dataset_drift(self) -> bool:
        """The overall verdict: at least ``drift_share`` of the features drifted (and at least one did)."""
        return bool(self.drifted_features) and self.share_drifted >= self.drift_share

    def feature(self, name: str) -> FeatureDrift:
        for result in self.features:
            if result.name == name:
                return result
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (the summary plus one entry per feature)."""
        return {
            "rows": self.rows,
            "dataset_drift": self.dataset_drift,
            "share_drifted": self.share_drifted,
            "drift_share": self.drift_share,
            "drifted_features": self.drifted_features,
            "outlier_share": self.outlier_share,
            "correction": self.correction,
            "missing_features": list(self.missing_features),
            "features": [f.to_dict() for f in self.features],
        }

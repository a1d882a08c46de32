"""The reference profile: what a drift job needs to know about the training data, per feature.

A profile is computed once, when a version with ``training_data`` is released, and stored as JSON; a drift
job then reads the profile instead of the raw training data for every statistic built on bins or counts
(PSI, Jensen–Shannon, chi-square, null share, outlier range). Kolmogorov–Smirnov and Wasserstein need the
raw reference values: their p-value and distance must equal scipy's on the same arrays, which no quantile
sketch can promise. So the release step also keeps, per numeric feature, the sorted non-null reference values
(:func:`reference_values`, stored next to the JSON profile as one uncompressed ``.npz`` by
:func:`reference_values_to_bytes`: 8 bytes a value, 1.6 MB per 200,000-row feature). A drift job passes them
to :func:`sonar.drift.detect_drift`; being sorted already, the reference is never sorted again.

Numeric features are binned on the reference deciles: the nine interior decile edges cut the real line into
ten bins whose outer bins are open (``(-inf, d1]`` and ``(d9, inf)``), so production values outside the
training range still land in a bin. Bins are right-closed, ``(d_{i-1}, d_i]``. Ties in the reference
(discrete data) collapse equal edges, so a profile can hold fewer than ten bins.

Categorical values are keyed by their string form (bytes decoded as UTF-8), since JSON keys are strings.
Nulls are ``None`` and float ``NaN``; they are counted apart and never enter a histogram.
"""

from __future__ import annotations

import io
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

FeatureKind = Literal["numeric", "categorical"]

DECILES: tuple[float, ...] = tuple(i / 10 for i in range(1, 10))
"""The quantiles whose values are the interior bin edges of a numeric profile."""

OUTLIER_QUANTILES: tuple[float, float] = (0.005, 0.995)
"""The reference's central 99% range: a production value outside it is an outlier."""

PROFILE_FORMAT = 1


@dataclass(frozen=True)
class FeatureProfile:
    """One feature of the reference data, as the drift job sees it.

    ``count`` is the number of non-null values, ``total`` the number of rows (nulls included). Numeric
    profiles fill ``edges`` (the interior decile edges), ``histogram`` (counts in the ``len(edges) + 1``
    bins), the moments and the central-99% ``outlier_range``; categorical profiles fill ``frequencies``
    (count per category).
    """

    name: str
    kind: FeatureKind
    total: int
    count: int
    edges: tuple[float, ...] = ()
    histogram: tuple[int, ...] = ()
    mean: float | None = None
    std: float | None = None
    minimum: float | None = None
    maximum: float | None = None
    outlier_range: tuple[float, float] | None = None
    frequencies: Mapping[str, int] = field(default_factory=dict)

    @property
    def null_share(self) -> float:
        """Share of rows whose value is null (0.0 for an empty reference)."""
        return (self.total - self.count) / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; :meth:`from_dict` reads it back unchanged."""
        return {
            "format": PROFILE_FORMAT,
            "name": self.name,
            "kind": self.kind,
            "total": self.total,
            "count": self.count,
            "null_share": self.null_share,
            "edges": list(self.edges),
            "histogram": list(self.histogram),
            "mean": self.mean,
            "std": self.std,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "outlier_range": list(self.outlier_range) if self.outlier_range is not None else None,
            "frequencies": dict(self.frequencies),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureProfile:
        """Read a dict written by :meth:`to_dict`."""
        if data.get("format", PROFILE_FORMAT) != PROFILE_FORMAT:
            raise ValueError(f"unsupported profile format {data.get('format')!r}")
        kind = data["kind"]
        if kind not in ("numeric", "categorical"):
            raise ValueError(f"unknown feature kind {kind!r}")
        outlier_range = data.get("outlier_range")
        return cls(
            name=str(data["name"]),
            kind=kind,
            total=int(data["total"]),
            count=int(data["count"]),
            edges=tuple(float(e) for e in data.get("edges", ())),
            histogram=tuple(int(c) for c in data.get("histogram", ())),
            mean=_opt_float(data.get("mean")),
            std=_opt_float(data.get("std")),
            minimum=_opt_float(data.get("minimum")),
            maximum=_opt_float(data.get("maximum")),
            outlier_range=(float(outlier_range[0]), float(outlier_range[1])) if outlier_range else None,
            frequencies={str(k): int(v) for k, v in dict(data.get("frequencies", {})).items()},
        )


def profile_feature(name: str, values: npt.ArrayLike, kind: FeatureKind | None = None) -> FeatureProfile:
    """Profile one feature's reference values; ``kind`` defaults to :func:`infer_kind`."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"feature {name!r}: expected one value per row, got shape {array.shape}")
    kind = kind or infer_kind(array)
    total = int(array.shape[0])
    if kind == "numeric":
        numbers = numeric_values(array)
        if numbers.size == 0:
            return FeatureProfile(name=name, kind=kind, total=total, count=0)
        edges = decile_edges(numbers)
        low, high = np.quantile(numbers, OUTLIER_QUANTILES)
        return FeatureProfile(
            name=name,
            kind=kind,
            total=total,
            count=int(numbers.size),
            edges=tuple(float(e) for e in edges),
            histogram=tuple(int(c) for c in bin_counts(numbers, edges)),
            mean=float(numbers.mean()),
            std=float(numbers.std()),
            minimum=float(numbers.min()),
            maximum=float(numbers.max()),
            outlier_range=(float(low), float(high)),
        )
    frequencies = category_counts(array)
    return FeatureProfile(
        name=name,
        kind=kind,
        total=total,
        count=sum(frequencies.values()),
        frequencies=dict(sorted(frequencies.items())),
    )


def profile_dataset(
    columns: Mapping[str, npt.ArrayLike], kinds: Mapping[str, FeatureKind] | None = None
) -> dict[str, FeatureProfile]:
    """Profile every column; ``kinds`` overrides :func:`infer_kind` per column (``profile: categorical``)."""
    kinds = kinds or {}
    return {name: profile_feature(name, values, kinds.get(name)) for name, values in columns.items()}


def profiles_to_dict(profiles: Mapping[str, FeatureProfile]) -> dict[str, Any]:
    """A whole reference profile as one JSON-able dict."""
    return {"format": PROFILE_FORMAT, "features": [p.to_dict() for p in profiles.values()]}


def profiles_from_dict(data: Mapping[str, Any]) -> dict[str, FeatureProfile]:
    """Read back :func:`profiles_to_dict`."""
    features: Sequence[Mapping[str, Any]] = data["features"]
    profiles = [FeatureProfile.from_dict(f) for f in features]
    return {p.name: p for p in profiles}


def reference_values(
    columns: Mapping[str, npt.ArrayLike], profiles: Mapping[str, FeatureProfile]
) -> dict[str, npt.NDArray[np.float64]]:
    """The sorted non-null values of every numeric feature with values: what KS and Wasserstein need."""
    out: dict[str, npt.NDArray[np.float64]] = {}
    for name, profile in profiles.items():
        if profile.kind == "numeric" and profile.count and name in columns:
            numbers = numeric_values(columns[name])
            numbers.sort()  # numeric_values returns a copy
            out[name] = numbers
    return out


def reference_values_to_bytes(values: Mapping[str, npt.NDArray[np.float64]]) -> bytes:
    """One uncompressed ``.npz`` of the sorted reference values (no pickles: safe to load).

    Arrays are stored positionally after an array of the feature names, so any feature name is allowed.
    """
    buffer = io.BytesIO()
    names = np.array(list(values), dtype=np.str_)
    np.savez(buffer, names, *(np.asarray(v, dtype=np.float64) for v in values.values()))
    return buffer.getvalue()


def reference_values_from_bytes(data: bytes) -> dict[str, npt.NDArray[np.float64]]:
    """Read back :func:`reference_values_to_bytes`."""
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        names = archive["arr_0"].tolist()
        return {str(name): archive[f"arr_{i + 1}"] for i, name in enumerate(names)}


def infer_kind(values: npt.ArrayLike) -> FeatureKind:
    """Numeric for integer and float dtypes, categorical for everything else (bool, strings, bytes, objects).

    Unlike Evidently, a numeric column with few distinct values stays numeric: the signature says
    ``profile: categorical`` where the owner means it.
    """
    dtype = np.asarray(values).dtype
    if dtype.kind in "iuf":
        return "numeric"
    if dtype.kind == "O":
        sample = [v for v in np.asarray(values).tolist() if not _is_null(v)]
        if sample and all(isinstance(v, int | float) and not isinstance(v, bool) for v in sample):
            return "numeric"
    return "categorical"


def row_count(current: Mapping[str, npt.ArrayLike]) -> int:
    """The common length of equal-length columns (0 for none); ValueError when they differ."""
    lengths = {name: len(np.asarray(values)) for name, values in current.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"current columns differ in length: {lengths}")
    return next(iter(lengths.values()), 0)


def numeric_values(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The non-null values as float64 (nulls: ``None`` and ``NaN``)."""
    array = np.asarray(values)
    if array.dtype.kind == "O":
        array = np.array([np.nan if v is None else v for v in array.tolist()], dtype=np.float64)
    numbers = array.astype(np.float64, copy=False).reshape(-1)
    return numbers[~np.isnan(numbers)]


def null_mask(values: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """True where a value is null (``None`` or float ``NaN``)."""
    array = np.asarray(values)
    if array.dtype.kind == "f":
        mask: npt.NDArray[np.bool_] = np.isnan(array)
        return mask
    if array.dtype.kind == "O":  # None, or a value unequal to itself (NaN); compared in C, not in Python
        nulls: npt.NDArray[np.bool_] = np.equal(array, np.array(None)) | np.not_equal(array, array)
        return nulls
    return np.zeros(array.shape[0], dtype=np.bool_)


def category_keys(values: npt.ArrayLike) -> npt.NDArray[np.str_]:
    """The non-null values as their string keys (bytes decoded as UTF-8, undecodable bytes escaped)."""
    array = np.asarray(values)
    if array.dtype.kind == "U":
        return array
    keys = [_key(v) for v in array.tolist() if not _is_null(v)]
    return np.array(keys, dtype=np.str_)


def category_counts(values: npt.ArrayLike) -> dict[str, int]:
    """Count per category key of the non-null values (keys as :func:`category_keys` makes them).

    One hashing pass over the values, then one key conversion per distinct value: no sort, and no
    per-row string conversion, which matters for million-row windows.
    """
    out: dict[str, int] = {}
    for value, n in Counter(np.asarray(values).tolist()).items():
        if not _is_null(value):
            key = _key(value)
            out[key] = out.get(key, 0) + n
    return out


def decile_edges(numbers: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The distinct interior decile edges of non-null values (linear interpolation, numpy's default)."""
    return np.unique(np.quantile(numbers, DECILES))


def bin_counts(
    numbers: npt.NDArray[np.float64], edges: Sequence[float] | npt.NDArray[np.float64]
) -> npt.NDArray[np.int64]:
    """Counts in the ``len(edges) + 1`` right-closed bins ``(-inf, e0], (e0, e1], ..., (e_last, inf)``."""
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), numbers, side="left")
    return np.bincount(index, minlength=len(edges) + 1).astype(np.int64)


def sorted_bin_counts(
    numbers: npt.NDArray[np.float64], edges: Sequence[float] | npt.NDArray[np.float64]
) -> npt.NDArray[np.int64]:
    """:func:`bin_counts` of values already sorted: one binary search per edge instead of one per value."""
    at_or_below = np.searchsorted(numbers, np.asarray(edges, dtype=np.float64), side="right")
    return np.diff(at_or_below, prepend=0, append=numbers.size).astype(np.int64)


def _key(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    return str(value)


def _is_null(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)

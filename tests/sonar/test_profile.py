"""The reference profile: what it holds and that it survives JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sonar.profile import (
    FeatureProfile,
    infer_kind,
    profile_dataset,
    profile_feature,
    profiles_from_dict,
    profiles_to_dict,
)


def test_numeric_profile_holds_deciles_histogram_moments_and_outlier_range() -> None:
    values = np.concatenate([np.random.default_rng(0).normal(5, 2, 10_000), [np.nan] * 500])
    profile = profile_feature("x", values)
    clean = values[~np.isnan(values)]
    assert profile.kind == "numeric"
    assert (profile.total, profile.count) == (10_500, 10_000)
    assert profile.null_share == pytest.approx(500 / 10_500)
    assert profile.edges == tuple(np.quantile(clean, [i / 10 for i in range(1, 10)]).tolist())
    assert len(profile.histogram) == 10 and sum(profile.histogram) == 10_000
    assert all(990 <= c <= 1010 for c in profile.histogram)
    assert profile.mean == pytest.approx(float(clean.mean()))
    assert profile.std == pytest.approx(float(clean.std()))
    assert profile.outlier_range == tuple(np.quantile(clean, [0.005, 0.995]).tolist())


def test_ties_collapse_decile_edges() -> None:
    profile = profile_feature("flag", np.array([0] * 90 + [1] * 10))
    assert profile.edges == pytest.approx((0.0, 0.1))  # deciles 1..8 are 0; the 9th interpolates to 0.1
    assert profile.histogram == (90, 0, 10)


def test_categorical_profile_counts_categories_and_nulls() -> None:
    values = np.array([b"de", b"fr", b"de", None, "fr", "it", float("nan")], dtype=object)
    profile = profile_feature("country", values)
    assert profile.kind == "categorical"
    assert dict(profile.frequencies) == {"de": 2, "fr": 2, "it": 1}
    assert (profile.total, profile.count) == (7, 5)


def test_kinds_inferred_and_overridden() -> None:
    assert infer_kind(np.array([1, 2, 3])) == "numeric"
    assert infer_kind(np.array([1.5, np.nan])) == "numeric"
    assert infer_kind(np.array([True, False])) == "categorical"
    assert infer_kind(np.array(["a", "b"])) == "categorical"
    assert infer_kind(np.array([1, None, 2.5], dtype=object)) == "numeric"
    profiles = profile_dataset({"code": np.array([1, 2, 2, 3])}, kinds={"code": "categorical"})
    assert profiles["code"].kind == "categorical"
    assert dict(profiles["code"].frequencies) == {"1": 1, "2": 2, "3": 1}


def test_profiles_round_trip_through_json() -> None:
    rng = np.random.default_rng(1)
    profiles = profile_dataset(
        {
            "amount": rng.lognormal(0, 1, 1_000),
            "country": rng.choice(np.array(["de", "fr", "it"]), 1_000),
            "empty": np.array([np.nan, np.nan]),
        }
    )
    text = json.dumps(profiles_to_dict(profiles), allow_nan=False)
    assert profiles_from_dict(json.loads(text)) == profiles


def test_all_null_feature_profiles_without_statistics() -> None:
    profile = profile_feature("empty", np.array([np.nan, np.nan]))
    assert profile.count == 0 and profile.null_share == 1.0 and profile.edges == ()


def test_rejects_non_scalar_columns_and_unknown_formats() -> None:
    with pytest.raises(ValueError, match="one value per row"):
        profile_feature("t", np.zeros((3, 2)))
    with pytest.raises(ValueError, match="format"):
        FeatureProfile.from_dict({"format": 99, "name": "x", "kind": "numeric", "total": 0, "count": 0})

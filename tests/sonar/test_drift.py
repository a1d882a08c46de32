"""The drift decision: defaults, Benjamini–Hochberg, the stories of issue 5 and the report's shape."""

from __future__ import annotations

import json

import numpy as np
import numpy.typing as npt
import pytest

from sonar.corrections import benjamini_hochberg
from sonar.drift import DriftConfig, choose_method, detect_drift
from sonar.profile import (
    FeatureProfile,
    profile_dataset,
    reference_values,
    reference_values_from_bytes,
    reference_values_to_bytes,
)

Columns = dict[str, npt.NDArray[np.generic]]

REFERENCE_ROWS = 20_000
SMALL, LARGE = 600, 8_000  # decided by p-value tests / by distances


def draw(
    rows: int, seed: int, *, shift: float = 0.0, null_share: float = 0.0, new_share: float = 0.0
) -> Columns:
    """A fraud-detector-like table; ``shift`` moves ``amount``, ``null_share`` blanks ``age``, ``new_share``
    gives ``country`` an unseen category."""
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3.0, 0.8, rows)
    amount = amount * np.exp(shift)  # a multiplicative shift of the log-normal
    age = rng.normal(40, 12, rows)
    age[rng.random(rows) < 0.01 + null_share] = np.nan
    score = rng.beta(2, 5, rows)
    country = rng.choice(np.array(["de", "fr", "it", "es"], dtype=object), rows, p=[0.4, 0.3, 0.2, 0.1])
    country[rng.random(rows) < new_share] = "pl"
    return {"amount": amount, "age": age, "score": score, "country": country}


@pytest.fixture(scope="module")
def reference() -> Columns:
    return draw(REFERENCE_ROWS, seed=100)


@pytest.fixture(scope="module")
def profiles(reference: Columns) -> dict[str, FeatureProfile]:
    return profile_dataset(reference)


@pytest.mark.parametrize("rows", [SMALL, LARGE])
def test_same_distribution_no_drift(
    reference: Columns, profiles: dict[str, FeatureProfile], rows: int
) -> None:
    report = detect_drift(profiles, draw(rows, seed=1), reference)
    assert report.drifted_features == []
    assert not report.dataset_drift
    assert report.rows == rows
    assert 0.0 < report.outlier_share < 0.06  # about 1 - 0.99**3 for three numeric features


@pytest.mark.parametrize("rows", [SMALL, LARGE])
def test_shifted_feature_is_flagged_and_no_other(
    reference: Columns, profiles: dict[str, FeatureProfile], rows: int
) -> None:
    report = detect_drift(profiles, draw(rows, seed=2, shift=0.4), reference)
    assert report.drifted_features == ["amount"]
    amount = report.feature("amount")
    assert amount.value_drift and not amount.null_drift
    assert amount.method == ("ks" if rows == SMALL else "wasserstein")
    assert report.share_drifted == 0.25 and not report.dataset_drift


@pytest.mark.parametrize("rows", [SMALL, LARGE])
def test_raised_nulls_are_flagged(reference: Columns, profiles: dict[str, FeatureProfile], rows: int) -> None:
    report = detect_drift(profiles, draw(rows, seed=3, null_share=0.15), reference)
    assert report.drifted_features == ["age"]
    age = report.feature("age")
    assert age.null_drift and not age.value_drift
    assert age.null_share_change == pytest.approx(0.15, abs=0.04)


@pytest.mark.parametrize("rows", [SMALL, LARGE])
def test_new_category_is_flagged(reference: Columns, profiles: dict[str, FeatureProfile], rows: int) -> None:
    report = detect_drift(profiles, draw(rows, seed=4, new_share=0.1), reference)
    assert report.drifted_features == ["country"]
    country = report.feature("country")
    assert country.method == ("chi_square" if rows == SMALL else "jensen_shannon")
    assert country.statistics["unseen_categories"] == ["pl"]
    assert country.statistics["unseen_share"] == pytest.approx(0.1, abs=0.03)


def test_many_drifted_features_give_a_dataset_verdict(
    reference: Columns, profiles: dict[str, FeatureProfile]
) -> None:
    current = draw(LARGE, seed=5, shift=0.4, null_share=0.2, new_share=0.2)
    report = detect_drift(profiles, current, reference)
    assert report.drifted_features == ["amount", "age", "country"]
    assert [f.name for f in report.features] == ["amount", "age", "country", "score"]  # drifted first
    assert report.share_drifted == 0.75 and report.dataset_drift


def test_report_applies_the_correction_to_test_features(
    reference: Columns, profiles: dict[str, FeatureProfile]
) -> None:
    report = detect_drift(profiles, draw(SMALL, seed=6, shift=0.15), reference)
    tested = [f for f in report.features if f.method in ("ks", "chi_square")]
    assert len(tested) == 4
    raw = [f.p_value for f in tested]
    assert all(p is not None for p in raw)
    expected = benjamini_hochberg([p for p in raw if p is not None])
    assert [f.p_value_adjusted for f in tested] == pytest.approx(expected.tolist(), rel=1e-12)
    for f in tested:
        assert f.value_drift == (f.p_value_adjusted is not None and f.p_value_adjusted < 0.05)
    uncorrected = detect_drift(
        profiles, draw(SMALL, seed=6, shift=0.15), reference, DriftConfig(correction="none")
    )
    assert [f.p_value_adjusted for f in uncorrected.features if f.p_value is not None] == [
        f.p_value for f in uncorrected.features if f.p_value is not None
    ]


@pytest.mark.parametrize(
    ("kind", "ref_n", "cur_n", "has_ref", "method"),
    [
        ("numeric", 200_000, 1_000, True, "ks"),
        ("numeric", 200_000, 1_001, True, "wasserstein"),
        ("numeric", 500, 1_000_000, True, "ks"),
        ("numeric", 200_000, 50_000, False, "psi"),
        ("categorical", 200_000, 300, True, "chi_square"),
        ("categorical", 200_000, 5_000, True, "jensen_shannon"),
    ],
)
def test_default_method(kind: str, ref_n: int, cur_n: int, has_ref: bool, method: str) -> None:
    assert choose_method(kind, ref_n, cur_n, has_reference_values=has_ref) == method  # type: ignore[arg-type]


def test_without_raw_reference_numeric_features_fall_back_to_psi(profiles: dict[str, FeatureProfile]) -> None:
    report = detect_drift(profiles, draw(LARGE, seed=7, shift=0.4))
    amount = report.feature("amount")
    assert amount.method == "psi" and amount.value_drift
    assert amount.threshold == 0.1
    assert report.drifted_features == ["amount"]


def test_method_overrides_and_their_errors(reference: Columns, profiles: dict[str, FeatureProfile]) -> None:
    config = DriftConfig(methods={"score": "jensen_shannon", "country": "psi"})
    report = detect_drift(profiles, draw(LARGE, seed=8), reference, config)
    assert report.feature("score").method == "jensen_shannon"
    assert report.feature("country").method == "psi"
    with pytest.raises(ValueError, match="does not apply"):
        detect_drift(profiles, draw(50, seed=8), reference, DriftConfig(methods={"country": "ks"}))
    with pytest.raises(ValueError, match="raw reference"):
        detect_drift(profiles, draw(50, seed=8), None, DriftConfig(methods={"age": "wasserstein"}))


def test_missing_and_empty_features(reference: Columns, profiles: dict[str, FeatureProfile]) -> None:
    current = draw(LARGE, seed=9)
    del current["score"]
    current["age"] = np.full(LARGE, np.nan)
    report = detect_drift(profiles, current, reference)
    assert report.missing_features == ("score",)
    age = report.feature("age")
    assert age.method is None and age.score is None and not age.value_drift
    assert age.null_drift and age.drifted


def test_unequal_columns_are_rejected(profiles: dict[str, FeatureProfile]) -> None:
    with pytest.raises(ValueError, match="differ in length"):
        detect_drift(profiles, {"amount": np.zeros(3), "age": np.zeros(4)})


def test_report_is_json_able(reference: Columns, profiles: dict[str, FeatureProfile]) -> None:
    report = detect_drift(profiles, draw(SMALL, seed=10, new_share=0.3), reference)
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["drifted_features"] == report.drifted_features
    assert {f["name"] for f in data["features"]} == {"amount", "age", "score", "country"}


def test_sorted_reference_values_and_threads_do_not_change_the_report(
    reference: Columns, profiles: dict[str, FeatureProfile]
) -> None:
    """What a release stores (sorted values, through bytes) gives the report the raw columns give."""
    stored = reference_values_from_bytes(reference_values_to_bytes(reference_values(reference, profiles)))
    assert set(stored) == {"amount", "age", "score"}  # numeric features only
    current = draw(LARGE, seed=11, shift=0.2, null_share=0.1)
    from_raw = detect_drift(profiles, current, reference, workers=1).to_dict()
    assert detect_drift(profiles, current, stored, workers=1).to_dict() == from_raw
    assert detect_drift(profiles, current, stored, workers=4).to_dict() == from_raw


def test_prediction_drift_is_output_fields_profiled_as_features(reference: Columns) -> None:
    """The model's output is one more column: a shifted prediction is flagged while the inputs are not."""
    rng = np.random.default_rng(12)
    inputs_and_output = {**reference, "prediction": rng.beta(2, 5, REFERENCE_ROWS)}
    profiles = profile_dataset(inputs_and_output)
    values = reference_values(inputs_and_output, profiles)
    current = {**draw(LARGE, seed=13), "prediction": rng.beta(3, 5, LARGE)}
    report = detect_drift(profiles, current, values)
    assert report.drifted_features == ["prediction"]
    assert report.feature("prediction").method == "wasserstein"

"""A drift job reads only its window's partitions, keeps only OK rows inside the window, and compares them
with the reference: on the local store and on an S3-protocol server (moto) through aiobotocore."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest
from scipy import stats  # type: ignore[import-untyped]

from servicekit.object_store import ObjectStore, open_object_store
from sonar.errors import InvalidRequest
from sonar.jobs import DriftJob, drift_config, partition_prefixes, run_job, window_keys
from sonar.reference import Reference, build_reference, features_from_signature
from tests.sonar.drift_samples import samples_table, store_samples

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fraud-detector"
SIGNATURE = {
    "inputs": [
        {"name": "amount", "datatype": "FP64", "shape": [-1]},
        {"name": "country", "datatype": "BYTES", "shape": [-1], "profile": "categorical"},
    ],
    "outputs": [{"name": "score", "datatype": "FP64", "shape": [-1]}],
}
DAY = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture(params=["file", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    if request.param == "file":
        opened = open_object_store(f"file://{tmp_path}/objects")
    else:
        server = request.getfixturevalue("s3_server")
        opened = open_object_store(f"s3://{server.bucket}/sonar", s3_endpoint_url=server.endpoint)
    yield opened
    await opened.close()


@pytest.fixture(scope="module")
def training() -> pa.Table:
    convert = pa_csv.ConvertOptions(column_types={"country": pa.string(), "amount": pa.float64()})
    return pa_csv.read_csv(EXAMPLE / "data" / "train.csv", convert_options=convert)


@pytest.fixture(scope="module")
def reference(training: pa.Table) -> Reference:
    built, _, _ = build_reference(features_from_signature(SIGNATURE), training, source="data/train.csv")
    return built


def job(start: datetime, end: datetime, **thresholds: Any) -> DriftJob:
    return DriftJob.from_claim(
        {
            "id": "7",
            "model": "fraud-detector",
            "version": 3,
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
            "thresholds": thresholds,
            "training_data": "data/train.csv",
            "artifact_url": None,
        }
    )


def test_partitions_are_the_hours_of_the_window_or_whole_days() -> None:
    start = DAY + timedelta(hours=22, minutes=30)
    assert partition_prefixes("m", 2, start, start + timedelta(minutes=90)) == [
        "samples/m/2/date=2026-11-20/hour=22/",
        "samples/m/2/date=2026-11-20/hour=23/",
    ]
    assert partition_prefixes("m", 2, start, start + timedelta(hours=2)) == [
        "samples/m/2/date=2026-11-20/hour=22/",
        "samples/m/2/date=2026-11-20/hour=23/",
        "samples/m/2/date=2026-11-21/hour=00/",
    ]
    # 22:30 on the 20th to 01:00 on the 22nd: two hours, the whole 21st, one hour
    assert partition_prefixes("m", 2, start, DAY + timedelta(hours=49)) == [
        "samples/m/2/date=2026-11-20/hour=22/",
        "samples/m/2/date=2026-11-20/hour=23/",
        "samples/m/2/date=2026-11-21/",
        "samples/m/2/date=2026-11-22/hour=00/",
    ]


async def test_job_reads_only_ok_rows_inside_the_window(
    store: ObjectStore, training: pa.Table, reference: Reference
) -> None:
    rng = np.random.default_rng(5)
    start, end = DAY + timedelta(hours=10, minutes=30), DAY + timedelta(hours=12, minutes=30)
    moments = [
        DAY + timedelta(hours=9, minutes=50),  # an hour before the window
        DAY + timedelta(hours=10, minutes=10),  # the window's first hour, before its start
        DAY + timedelta(hours=10, minutes=45),
        DAY + timedelta(hours=11, minutes=20),
        DAY + timedelta(hours=12, minutes=10),
        DAY + timedelta(hours=12, minutes=30),  # the end is excluded
        DAY + timedelta(hours=13, minutes=5),  # an hour after the window
    ]
    times, amounts, countries, statuses, shadows = [], [], [], [], []
    expected_amounts, expected_countries = [], []
    picks = rng.integers(0, training.num_rows, 700)
    for i, pick in enumerate(picks):
        moment = moments[i % len(moments)] + timedelta(seconds=int(i % 50))
        amount = float(training.column("amount")[pick].as_py())
        country = training.column("country")[pick].as_py()
        status = "UNAVAILABLE" if i % 11 == 0 else "OK"
        times.append(moment)
        amounts.append(amount)
        countries.append(country)
        statuses.append(status)
        shadows.append(i % 5 == 0)  # shadow rows are production inputs too: kept
        if start <= moment < end and status == "OK":
            expected_amounts.append(amount)
            expected_countries.append(country)
    scores = [None if s != "OK" else 0.1 for s in statuses]  # outputs are null when the call failed
    table = samples_table(
        times, {"amount": amounts, "country": countries, "score": scores}, status=statuses, shadow=shadows
    )
    written = await store_samples(store, "fraud-detector", 3, table)
    assert len(written) == 5  # hours 09 to 13
    # Parts of hours outside the window are never opened, not even when they are unreadable.
    await store.put("samples/fraud-detector/3/date=2026-11-20/hour=09/part-0-bad.parquet", b"not parquet")
    await store.put("samples/fraud-detector/3/date=2026-11-20/hour=13/part-0-bad.parquet", b"not parquet")
    await store.put("samples/fraud-detector/30/date=2026-11-20/hour=11/part-0-bad.parquet", b"other version")

    the_job = job(start, end)
    keys = await window_keys(store, "fraud-detector", 3, start, end)
    assert sorted(keys) == sorted(
        k for k in written if "/hour=10/" in k or "/hour=11/" in k or "/hour=12/" in k
    )

    result = await run_job(store, the_job, reference)

    assert result.summary["rows"] == len(expected_amounts) > 200
    assert result.summary["files"] == 3
    entries = {entry["name"]: entry for entry in result.features}
    checked = entries["amount"]
    assert checked["method"] == "ks"  # fewer than 1000 rows: a p-value test decides
    scipy_ks = stats.ks_2samp(training.column("amount").to_numpy(), np.array(expected_amounts))
    assert checked["statistics"]["ks_statistic"] == pytest.approx(scipy_ks.statistic, rel=1e-12)
    assert checked["statistics"]["count"] == len(expected_amounts)
    assert entries["country"]["statistics"]["count"] == len(expected_countries)
    # the model's output is not in the training data: reported, not compared
    assert entries["score"]["status"] == "no_reference"
    assert result.summary["no_reference"] == ["score"]
    assert not result.summary["dataset_drift"]
    assert result.html.startswith("<!DOCTYPE html>")


async def test_an_empty_window_reports_no_rows(store: ObjectStore, reference: Reference) -> None:
    result = await run_job(store, job(DAY, DAY + timedelta(hours=1)), reference)
    assert result.summary["rows"] == 0
    assert result.summary["files"] == 0
    assert result.summary["drifted_features"] == []
    assert all(entry["drifted"] is False for entry in result.features)
    assert "no sampled traffic" in result.html


async def test_a_field_missing_from_older_parts_counts_as_nulls(
    store: ObjectStore, reference: Reference
) -> None:
    start = DAY + timedelta(hours=8)
    rng = np.random.default_rng(9)
    old = samples_table(
        [start + timedelta(minutes=1)] * 300, {"amount": rng.lognormal(4, 1, 300).tolist()}
    )  # written before 'country' existed
    await store_samples(store, "fraud-detector", 3, old)
    result = await run_job(store, job(start, start + timedelta(hours=1)), reference)
    country = {e["name"]: e for e in result.features}["country"]
    assert country["null_share_current"] == 1.0
    assert country["null_drift"] and country["drifted"]


def test_thresholds_become_the_drift_config() -> None:
    # the control plane's names (monitoring schedules and runs by hand)
    config = drift_config(
        {"ks_pvalue": 0.01, "wasserstein": 0.2, "jensenshannon": 0.15, "null_share": 0.1, "drift_share": 0.3}
    )
    assert config.alpha == 0.01
    assert config.thresholds["wasserstein"] == 0.2
    assert config.thresholds["jensen_shannon"] == 0.15
    assert config.thresholds["psi"] == 0.1  # untouched defaults stay
    assert config.null_share_threshold == 0.1
    assert config.drift_share == 0.3
    # KS and chi-square p-values are corrected together: the stricter level applies to both
    assert drift_config({"ks_pvalue": 0.05, "chi2_pvalue": 0.01}).alpha == 0.01
    assert drift_config({"correction": "bonferroni"}).correction == "bonferroni"
    with pytest.raises(InvalidRequest, match="unknown drift threshold 'wassersteen'"):
        drift_config({"wassersteen": 0.2})
    with pytest.raises(InvalidRequest, match="'alpha' must be a number"):
        drift_config({"alpha": "low"})


def test_a_malformed_claim_is_refused_by_name() -> None:
    with pytest.raises(InvalidRequest, match="no 'window_end' field"):
        DriftJob.from_claim({"id": 1, "model": "m", "version": 1, "window_start": "2026-11-20T10:00:00Z"})
    with pytest.raises(InvalidRequest, match="ends .* before it starts"):
        job(DAY + timedelta(hours=2), DAY)
    parsed = job(DAY, DAY + timedelta(hours=1))
    assert parsed.window_start == DAY and parsed.window_start.tzinfo is not None
    naive = DriftJob.from_claim(
        {
            "id": 1,
            "model": "m",
            "version": 1,
            "window_start": "2026-11-20T10:00:00",
            "window_end": "2026-11-20T11:00:00Z",
        }
    )
    assert naive.window_start == DAY + timedelta(hours=10)


async def test_an_unreadable_part_in_the_window_fails_the_job_naming_it(
    store: ObjectStore, reference: Reference
) -> None:
    start = DAY + timedelta(hours=6)
    good = samples_table([start + timedelta(minutes=5)] * 10, {"amount": [10.0] * 10, "country": ["DE"] * 10})
    await store_samples(store, "fraud-detector", 3, good)
    bad = "samples/fraud-detector/3/date=2026-11-20/hour=06/part-1-broken.parquet"
    await store.put(bad, b"PAR1 but not really")
    with pytest.raises(InvalidRequest, match=f"sample part '{bad}' cannot be read"):
        await run_job(store, job(start, start + timedelta(hours=1)), reference)

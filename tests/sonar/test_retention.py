"""Retention of sampled traffic: partitions whose hour ended longer ago than the model's limit are deleted,
newer ones kept, and what went is counted (objects and bytes, in the pass's answer and in Sonar's metrics);
on the local store and on an S3-protocol server (moto). A model's own limit comes with the catalog snapshot
and wins over Sonar's settings."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from servicekit.object_keys import sample_part_key, sample_partition_of
from servicekit.object_store import ObjectStore, open_object_store
from sonar.metrics import Metrics
from sonar.retention import SAMPLES, remove_expired, run_retention
from sonar.settings import Settings
from tests.router.standins import snapshot
from tests.sonar.harness import parse_metrics, start_sonar

NOW = datetime(2026, 12, 3, 14, 30, tzinfo=UTC)


@pytest.fixture(params=["file", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    if request.param == "file":
        opened = open_object_store(f"file://{tmp_path}/objects")
    else:
        server = request.getfixturevalue("s3_server")
        opened = open_object_store(f"s3://{server.bucket}/sonar", s3_endpoint_url=server.endpoint)
    yield opened
    await opened.close()


async def put_part(store: ObjectStore, model: str, version: int, moment: datetime, size: int) -> str:
    key = sample_part_key(model, version, int(moment.timestamp() * 1000), f"{size:08x}")
    await store.put(key, b"x" * size)
    return key


async def test_partitions_older_than_the_limit_go_newer_stay_and_are_counted(store: ObjectStore) -> None:
    limit = timedelta(days=30)
    old = [
        await put_part(store, "fraud", 1, NOW - limit - timedelta(hours=2), 100),
        await put_part(store, "fraud", 1, NOW - limit - timedelta(hours=2, minutes=5), 50),  # same hour
        await put_part(store, "fraud", 2, NOW - timedelta(days=400), 7),
    ]
    kept = [
        # its hour ends less than 30 days ago: one record in it may still be within the limit
        await put_part(store, "fraud", 1, NOW - limit, 10),
        await put_part(store, "fraud", 1, NOW - timedelta(minutes=5), 10),
        await put_part(store, "fraud", 10, NOW - timedelta(days=29), 10),
    ]
    short = [await put_part(store, "churn", 3, NOW - timedelta(days=8), 20)]  # churn keeps 7 days
    await store.put("models/fraud/1/package.tar.gz", b"package")  # not sampled traffic: never touched
    await store.put("profiles/fraud/1/profile.json", b"{}")
    metrics = Metrics()

    removed = await remove_expired(store, NOW, 30, {"churn": 7}, metrics)

    assert (removed.partitions, removed.objects, removed.bytes) == (3, 4, 177)
    remaining = await store.keys("")
    assert not set(old + short) & set(remaining)
    assert set(kept) <= set(remaining)
    assert {"models/fraud/1/package.tar.gz", "profiles/fraud/1/profile.json"} <= set(remaining)
    counted = parse_metrics(metrics.exposition().decode())
    assert counted["hydro_sonar_retention_removed_objects_total"] == 4
    assert counted["hydro_sonar_retention_removed_bytes_total"] == 177

    again = await remove_expired(store, NOW, 30, {"churn": 7}, metrics)
    assert (again.partitions, again.objects, again.bytes) == (0, 0, 0), "a second pass finds nothing"


def test_sample_keys_are_read_back_to_their_partition() -> None:
    key = sample_part_key("fraud", 12, int(datetime(2026, 3, 4, 5, 6, tzinfo=UTC).timestamp() * 1000), "ab")
    assert sample_partition_of(key) == ("fraud", 12, datetime(2026, 3, 4, 5, tzinfo=UTC))
    assert sample_partition_of("reports/fraud/1/x.html") is None
    assert sample_partition_of("samples/fraud/1/date=2026-13-01/hour=05/p.parquet") is None
    assert sample_partition_of("samples/fraud/x/date=2026-01-01/hour=05/p.parquet") is None


async def test_a_running_sonar_removes_expired_samples_on_its_schedule_and_counts_them(
    tmp_path: Path,
) -> None:
    root = tmp_path / "objects"
    store = open_object_store(f"file://{root}")
    now = datetime.now(UTC)
    expired = await put_part(store, "fraud", 1, now - timedelta(days=3), 300)
    fresh = await put_part(store, "fraud", 1, now - timedelta(hours=2), 40)
    await store.close()
    sonar = await start_sonar(
        tmp_path,
        snapshot=snapshot(1, [], []),
        object_store_url=f"file://{root}",
        sample_retention_days=2,
        sample_retention_interval_s=0.2,
    )
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while (root / expired).exists() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
        assert not (root / expired).exists(), sonar.log_text()
        assert (root / fresh).exists()
        metrics = await sonar.metrics()
        assert metrics["hydro_sonar_retention_removed_objects_total"] == 1
        assert metrics["hydro_sonar_retention_removed_bytes_total"] == 300
    finally:
        await sonar.stop()
    assert "retention: removed 1 hourly partitions of fraud:1 (1 objects, 300 bytes)" in sonar.log_text()


async def test_a_models_own_retention_from_the_catalog_wins_over_sonars_settings(tmp_path: Path) -> None:
    """fraud keeps 1 day by its own setting (Sonar's default: 30), churn keeps 10 days by its own setting
    (the operator's JSON says 2), ads has none of its own and keeps the operator's 2 days."""
    root = tmp_path / "objects"
    store = open_object_store(f"file://{root}")
    now = datetime.now(UTC)
    fraud_old = await put_part(store, "fraud", 1, now - timedelta(days=3), 300)
    fraud_fresh = await put_part(store, "fraud", 1, now - timedelta(hours=2), 40)
    churn_kept = await put_part(store, "churn", 2, now - timedelta(days=5), 50)
    ads_old = await put_part(store, "ads", 1, now - timedelta(days=5), 7)
    await store.close()
    catalog = snapshot(1, [], [])
    catalog.sample_retention_days.update({"fraud": 1, "churn": 10})
    sonar = await start_sonar(
        tmp_path,
        snapshot=catalog,
        object_store_url=f"file://{root}",
        sample_retention_days=30,
        sample_retention_model_days=json.dumps({"churn": 2, "ads": 2}),
        sample_retention_interval_s=0.2,
    )
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while (root / ads_old).exists() or (root / fraud_old).exists():
            assert asyncio.get_running_loop().time() < deadline, sonar.log_text()
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # two more passes: what is kept stays kept
        assert (root / fraud_fresh).exists()
        assert (root / churn_kept).exists(), "churn's own 10 days win over the operator's 2"
        metrics = await sonar.metrics()
        assert metrics["hydro_sonar_retention_removed_objects_total"] == 2
        assert metrics["hydro_sonar_retention_removed_bytes_total"] == 307
    finally:
        await sonar.stop()
    log = sonar.log_text()
    assert (
        "removed 1 hourly partitions of fraud:1 (1 objects, 300 bytes)" in log and "older than 1 days" in log
    )
    assert "removed 1 hourly partitions of ads:1 (1 objects, 7 bytes)" in log


async def test_no_pass_runs_before_the_catalog_says_which_models_keep_their_samples_longer(
    store: ObjectStore,
) -> None:
    """Until the first snapshot, a model that keeps 90 days must not lose its 40-day-old samples to the
    30-day default; once the snapshot is read, the pass honours it (and removes what has no limit of its
    own)."""
    now = datetime.now(UTC)
    fraud = await put_part(store, "fraud", 1, now - timedelta(days=40), 10)
    ads = await put_part(store, "ads", 1, now - timedelta(days=40), 10)
    known: dict[str, float] | None = None
    settings = Settings(sample_retention_days=30, sample_retention_interval_s=0.05)
    task = asyncio.create_task(run_retention(settings, store, Metrics(), lambda: known))
    try:
        await asyncio.sleep(0.5)
        assert {fraud, ads} <= set(await store.keys(SAMPLES)), "a pass ran before the catalog was known"
        known = {"fraud": 90}
        deadline = asyncio.get_running_loop().time() + 10
        while ads in await store.keys(SAMPLES):
            assert asyncio.get_running_loop().time() < deadline, "no pass ran once the catalog was known"
            await asyncio.sleep(0.05)
        assert fraud in await store.keys(SAMPLES)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

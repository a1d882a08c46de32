"""Sonar's drift worker against a real control plane: a run started by hand becomes a stored report (JSON
and HTML); a job that cannot run is failed with its reason and the worker goes on; the control plane being
down never stops the worker; a worker whose lease passed to another can no longer report."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from servicekit.object_keys import profile_key
from servicekit.object_store import ObjectStore, open_object_store
from sonar.control_plane_client import ControlPlane as DriftControlPlane
from sonar.errors import LeaseLost
from sonar.jobs import DriftJob
from sonar.settings import Settings
from sonar.worker import compute, run_drift_worker
from tests.control_plane.conftest import SERVICE_TOKEN, ControlPlane, make_settings, running, unique
from tests.control_plane.drift_helpers import database_kinds, own_database
from tests.control_plane.packages import model_files, tar_gz
from tests.ports import free_port
from tests.sonar.conftest import S3Server
from tests.sonar.drift_samples import samples_table, store_samples
from tests.sonar.test_reference import EXAMPLE, example_package


@pytest.fixture(params=database_kinds())
async def control_plane(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ControlPlane]:
    async with (
        own_database(request.param, tmp_path) as url,
        running(make_settings(tmp_path / "cp", url)) as running_control_plane,
    ):
        yield running_control_plane


def settings_for(url: str, home: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "home": home,
        "control_plane_url": url,
        "service_token": SERVICE_TOKEN,
        "drift_poll_interval_s": 0.2,
        "drift_lease_s": 30,
        "worker_name": unique("sonar"),
    }
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def drift_worker(settings: Settings, store: ObjectStore) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_drift_worker(settings, store, stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def finished(control_plane: ControlPlane, report_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = await control_plane.client.get(f"/api/v1/drift-reports/{report_id}")
        assert response.status_code == 200, response.text
        report: dict[str, Any] = response.json()
        if report["status"] in ("done", "failed"):
            return report
        assert time.monotonic() < deadline, f"report {report_id} still {report['status']} after {timeout} s"
        await asyncio.sleep(0.1)


async def start_run(control_plane: ControlPlane, model: str, version: int, since: str = "1h") -> str:
    response = await control_plane.client.post(
        f"/api/v1/models/{model}/versions/{version}/drift-reports", json={"since": since}
    )
    assert response.status_code == 202, response.text
    report_id: str = response.json()["id"]
    return report_id


def training_rows() -> list[dict[str, str]]:
    with (EXAMPLE / "data" / "train.csv").open() as handle:
        return list(csv.DictReader(handle))


async def write_traffic(
    store: ObjectStore, model: str, version: int, rows: int, seed: int, *, amount_factor: float = 1.0
) -> None:
    """``rows`` requests drawn from the training data in the last half hour (amounts scaled by the factor)."""
    rng = np.random.default_rng(seed)
    training = training_rows()
    picks = [training[i] for i in rng.integers(0, len(training), rows)]
    now = datetime.now(UTC)
    times = [now - timedelta(minutes=30) + timedelta(seconds=float(s)) for s in rng.uniform(0, 1500, rows)]
    table = samples_table(
        times,
        {
            "amount": [float(p["amount"]) * amount_factor for p in picks],
            "country": [p["country"] for p in picks],
            "score": rng.uniform(0, 1, rows).tolist(),
        },
    )
    await store_samples(store, model, version, table)


async def test_a_run_by_hand_becomes_a_report_on_s3(
    control_plane: ControlPlane, tmp_path: Path, s3_server: S3Server
) -> None:
    model = unique("fraud")
    version = await control_plane.release(model, example_package(model))
    settings = settings_for(
        control_plane.url,
        tmp_path / "sonar",
        object_store_url=f"s3://{s3_server.bucket}/sonar",
        s3_endpoint_url=s3_server.endpoint,
    )
    store = open_object_store(settings.object_store, s3_endpoint_url=settings.s3_endpoint_url)
    await write_traffic(store, model, version, rows=400, seed=1, amount_factor=3.0)
    report_id = await start_run(control_plane, model, version)

    async with drift_worker(settings, store):
        report = await finished(control_plane, report_id)

    assert report["status"] == "done", report
    assert report["worker"] == settings.worker_name
    summary = report["summary"]
    assert summary["rows"] == 400
    assert summary["drifted_features"] == ["amount"]
    assert summary["no_reference"] == ["score"]
    features = {f["name"]: f for f in report["features"]}
    assert features["amount"]["method"] == "ks" and features["amount"]["drifted"]
    assert not features["country"]["drifted"]
    assert features["score"]["status"] == "no_reference"

    html = await control_plane.client.get(f"/api/v1/drift-reports/{report_id}/html")
    assert html.status_code == 200
    assert f"Drift report: {model}:{version}" in html.text
    assert html.text.count("<svg") == 2

    # the reference was built once, from the package the control plane serves, into Sonar's store
    assert f"sonar/{profile_key(model, version)}" in s3_server.keys("sonar/profiles/")
    await store.close()


async def test_a_job_that_cannot_run_fails_with_its_reason_and_the_worker_goes_on(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    broken = unique("broken")
    files = model_files(broken, training_data="data/train.csv")
    files["data/train.csv"] = b"x\n0.5\nnot a number\n"
    broken_version = await control_plane.release(broken, tar_gz(files))
    model = unique("fraud")
    version = await control_plane.release(model, example_package(model))
    settings = settings_for(control_plane.url, tmp_path / "sonar")
    store = open_object_store(settings.object_store)
    await write_traffic(store, model, version, rows=300, seed=2)
    broken_id = await start_run(control_plane, broken, broken_version)
    good_id = await start_run(control_plane, model, version)

    async with drift_worker(settings, store) as task:
        failed = await finished(control_plane, broken_id)
        done = await finished(control_plane, good_id)
        assert not task.done()

    assert failed["status"] == "failed"
    assert "training data 'data/train.csv' cannot be read" in failed["error"]
    assert done["status"] == "done", done
    assert done["summary"]["rows"] == 300
    assert done["summary"]["drifted_features"] == []
    await store.close()


async def test_the_worker_outlives_an_unreachable_control_plane_and_stops_at_once(tmp_path: Path) -> None:
    settings = settings_for(f"http://127.0.0.1:{free_port()}", tmp_path / "sonar")
    store = open_object_store(settings.object_store)
    async with drift_worker(settings, store) as task:
        await asyncio.sleep(1.0)  # several polls, each refused
        assert not task.done()
        stopping = time.monotonic()
    assert task.done() and task.exception() is None
    assert time.monotonic() - stopping < 1.0
    await store.close()


async def test_a_worker_whose_lease_passed_to_another_cannot_report(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    model = unique("fraud")
    version = await control_plane.release(model, example_package(model))
    report_id = await start_run(control_plane, model, version)
    headers = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    async with httpx.AsyncClient(base_url=control_plane.url, headers=headers, timeout=30) as http:
        slow, other = DriftControlPlane(http, "slow", 1), DriftControlPlane(http, "other", 60)
        claimed = await slow.claim()
        assert claimed is not None and claimed["id"] == report_id
        await asyncio.sleep(1.5)  # the slow worker's lease runs out ...
        taken = await other.claim()  # ... and another worker takes the job over
        assert taken is not None and taken["id"] == report_id

        store = open_object_store(f"file://{tmp_path}/sonar")
        result = await compute(slow, store, DriftJob.from_claim(claimed))
        with pytest.raises(LeaseLost):
            await slow.heartbeat(report_id)
        with pytest.raises(LeaseLost):
            await slow.complete(report_id, result)
        await other.complete(report_id, result)
        await store.close()

    report = await finished(control_plane, report_id)
    assert report["status"] == "done" and report["worker"] == "other"

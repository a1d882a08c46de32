"""What the drift report tests share: a clock the test moves, a database of their own, a monitored model
version, and a Sonar worker's side of the internal drift-job endpoints (plain HTTP calls, as a worker
makes them)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.control_plane.conftest import (
    TEST_DATABASE_URL,
    ControlPlane,
    _admin,
    make_settings,
    running,
    unique,
)
from tests.control_plane.packages import model_files, tar_gz

START = datetime(2026, 11, 23, 10, 0, 30, tzinfo=UTC)
TRAIN_CSV = b"x\n0.5\n1.5\n2.5\n"


class ManualClock:
    """Now, as the test says: it moves only when the test advances it."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set(self, value: datetime) -> None:
        self.now = value


def at(text: str) -> datetime:
    """`"10:05"` or `"10:05:30"` on the test day, in UTC."""
    parts = [int(part) for part in text.split(":")]
    hour, minute, second = (parts + [0, 0])[:3]
    return START.replace(hour=hour, minute=minute, second=second, microsecond=0)


def z(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@contextlib.asynccontextmanager
async def own_database(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database only this test uses (a claim takes work from every version in its database)."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/drift.db"
        return
    name = f"hydro_drift_{uuid.uuid4().hex[:10]}"
    await _admin(f"CREATE DATABASE {name}")
    try:
        yield make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.asynccontextmanager
async def plane(home: Path, database_url: str, clock: ManualClock) -> AsyncIterator[ControlPlane]:
    """A control plane on `database_url` whose notion of now is `clock`."""
    async with running(make_settings(home, database_url), clock=clock) as control_plane:
        yield control_plane


def monitored_package(name: str) -> bytes:
    files = model_files(name, training_data="data/train.csv")
    files["data/train.csv"] = TRAIN_CSV
    return tar_gz(files)


async def monitored_version(control_plane: ControlPlane, prefix: str = "drifty") -> tuple[str, int]:
    """A released version whose hydro.yaml names training data; returns (model, version)."""
    model = unique(prefix)
    return model, await control_plane.release(model, monitored_package(model))


@dataclass
class Worker:
    """A Sonar worker's calls to the internal drift-job endpoints."""

    client: httpx.AsyncClient
    name: str = field(default_factory=lambda: unique("sonar"))

    async def claim(self, lease_s: int = 300) -> httpx.Response:
        return await self.client.post(
            "/api/v1/internal/drift-jobs/claim", json={"worker": self.name, "lease_s": lease_s}
        )

    async def job(self, lease_s: int = 300) -> dict[str, Any]:
        """Claim and expect a job."""
        response = await self.claim(lease_s)
        assert response.status_code == 200, (response.status_code, response.text)
        body: dict[str, Any] = response.json()
        return body

    async def nothing_due(self) -> None:
        response = await self.claim()
        assert response.status_code == 204, (response.status_code, response.text)
        assert response.content == b""

    async def complete(self, report_id: str, **overrides: Any) -> httpx.Response:
        body: dict[str, Any] = {
            "worker": self.name,
            "summary": {"dataset_drift": False, "share_drifted": 0.0, "rows": 3},
            "features": [{"name": "x", "method": "ks", "drifted": False}],
            "html": f"<!doctype html><title>{report_id}</title><p>no drift</p>",
        }
        body.update(overrides)
        return await self.client.post(f"/api/v1/internal/drift-jobs/{report_id}/complete", json=body)

    async def fail(self, report_id: str, error: str) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/internal/drift-jobs/{report_id}/fail", json={"worker": self.name, "error": error}
        )

    async def heartbeat(self, report_id: str, lease_s: int) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/internal/drift-jobs/{report_id}/heartbeat",
            json={"worker": self.name, "lease_s": lease_s},
        )


async def put_schedule(control_plane: ControlPlane, model: str, version: int, **spec: Any) -> dict[str, Any]:
    response = await control_plane.client.put(
        f"/api/v1/models/{model}/versions/{version}/monitoring", json=spec
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def reports(control_plane: ControlPlane, model: str, version: int) -> list[dict[str, Any]]:
    response = await control_plane.client.get(
        f"/api/v1/models/{model}/versions/{version}/drift-reports", params={"limit": 500}
    )
    assert response.status_code == 200, response.text
    listed: list[dict[str, Any]] = response.json()["drift_reports"]
    return listed


def database_kinds() -> list[Any]:
    return [pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"]

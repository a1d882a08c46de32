"""A real control plane per test (uvicorn + gRPC on free loopback ports) on real PostgreSQL and on SQLite.

PostgreSQL: one fresh database per test session (`hydro_cp_<random>`, dropped afterwards) on the server
of HYDRO_TEST_DATABASE_URL. Every API test runs once on PostgreSQL and once on SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from control_plane.server import serve
from control_plane.settings import Settings
from tests.ports import free_port

ADMIN_TOKEN = "control-plane-test-token"
SERVICE_TOKEN = "control-plane-test-service-token"
"""The service credential the test control plane accepts (package downloads, Sonar's drift-job calls)."""
TEST_DATABASE_URL = os.environ.get(
    "HYDRO_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/hydro_test"
)


def unique(prefix: str) -> str:
    """A DNS-safe name no other test uses (the PostgreSQL database is shared by the session)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def _admin(sql: str) -> None:
    url = make_url(TEST_DATABASE_URL).set(drivername="postgresql", database="postgres")
    try:
        connection = await asyncpg.connect(url.render_as_string(hide_password=False), timeout=5)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL of HYDRO_TEST_DATABASE_URL ({url.host}:{url.port}) is not reachable: {exc}")
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    name = f"hydro_cp_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f"CREATE DATABASE {name}"))
    yield make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return f"sqlite+aiosqlite:///{tmp_path}/hydro.db"


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"])
async def control_plane_alone(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ControlPlane]:
    """A control plane on a database of its own, for a test that sees every row of its database (a page
    listing all applications; a drift worker's claim, which takes any version's pending report): on the
    shared PostgreSQL test database other tests' rows are there too."""
    from tests.control_plane.drift_helpers import own_database  # imports this module

    async with own_database(request.param, tmp_path) as url, running(make_settings(tmp_path, url)) as cp:
        yield cp


def make_settings(home: Path, database_url: str, **overrides: Any) -> Settings:
    """Settings of a test control plane; every field a test relies on is explicit (no HYDRO_* leaks in)."""
    values: dict[str, Any] = {
        "home": home,
        "bind_host": "127.0.0.1",
        "control_plane_port": free_port(),
        "catalog_port": free_port(),
        "scaler_address": f"127.0.0.1:{free_port()}",  # nothing listens: the scaler is "down"
        "sonar_address": f"127.0.0.1:{free_port()}",  # nothing listens: Sonar is "down"
        "router_url": "http://127.0.0.1:18081",
        "router_grpc_address": "127.0.0.1:19090",
        "database_url": database_url,
        "object_store_url": f"file://{home}/objects",
        "runtime": "process",
        "admin_token": ADMIN_TOKEN,
        "service_token": SERVICE_TOKEN,
        "wheelhouse": None,
        "scaler_timeout_s": 0.5,
        "kafka_bootstrap_servers": "",  # no brokers unless a test runs with them
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class ControlPlane:
    """A running control plane and HTTP clients for its API: `client` carries the admin token, `service`
    the service credential (what Sonar and the scaler present)."""

    settings: Settings
    client: httpx.AsyncClient
    service: httpx.AsyncClient
    task: asyncio.Task[None]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.control_plane_port}"

    @property
    def catalog_address(self) -> str:
        return f"127.0.0.1:{self.settings.catalog_port}"

    @property
    def objects(self) -> Path:
        return Path(self.settings.object_store_url.removeprefix("file://"))

    async def upload(self, model: str, body: bytes | AsyncIterator[bytes], **kwargs: Any) -> httpx.Response:
        return await self.client.post(f"/api/v1/models/{model}/versions", content=body, **kwargs)

    async def wait_built(self, model: str, version: int, timeout: float = 300) -> dict[str, Any]:
        """Poll until the version is released or failed; return it."""
        deadline = time.monotonic() + timeout
        while True:
            response = await self.client.get(f"/api/v1/models/{model}/versions/{version}")
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            if body["status"] in ("released", "failed"):
                return body
            assert time.monotonic() < deadline, f"{model}:{version} still {body['status']} after {timeout} s"
            await asyncio.sleep(0.05)

    async def release(self, model: str, body: bytes) -> int:
        """Upload a good package and wait for its release; return the version number."""
        response = await self.upload(model, body)
        assert response.status_code == 202, response.text
        version: int = response.json()["version"]
        built = await self.wait_built(model, version)
        assert built["status"] == "released", built
        return version


@contextlib.asynccontextmanager
async def running(settings: Settings, **options: Any) -> AsyncIterator[ControlPlane]:
    """Run `serve(settings, **options)` until the block exits, then cancel it (graceful shutdown)."""
    started = asyncio.Event()
    task = asyncio.create_task(serve(settings, started=started, **options))
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({task, waiter}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    if not started.is_set():
        waiter.cancel()
        if task.done():
            task.result()
        task.cancel()
        pytest.fail("the control plane did not start within 60 s")
    base_url = f"http://127.0.0.1:{settings.control_plane_port}"
    service_token = settings.service_token.get_secret_value() if settings.service_token else ""
    async with (
        httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60
        ) as client,
        httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {service_token}"}, timeout=60
        ) as service,
    ):
        try:
            yield ControlPlane(settings=settings, client=client, service=service, task=task)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.fixture
async def control_plane(tmp_path: Path, database_url: str) -> AsyncIterator[ControlPlane]:
    async with running(make_settings(tmp_path, database_url)) as running_control_plane:
        yield running_control_plane

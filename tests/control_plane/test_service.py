"""The service around the API: health, metrics, migrations, and `python -m control_plane` as a process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from control_plane.app import create_app
from control_plane.db import create_engine, migrate
from control_plane.tables import Base
from tests.control_plane.conftest import ADMIN_TOKEN, ControlPlane, make_settings, running, unique
from tests.control_plane.packages import package
from tests.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


async def test_health_and_metrics(control_plane: ControlPlane) -> None:
    health = await control_plane.client.get("/api/v1/health")
    assert health.status_code == 200 and health.json() == {"status": "ok"}

    name = unique("metered")
    await control_plane.release(name, package(name))
    metrics = await control_plane.client.get("/metrics")
    assert metrics.status_code == 200
    text = metrics.text
    upload = 'method="POST",route="/api/v1/models/{model}/versions",status="202"'
    assert f"hydro_control_plane_requests_total{{{upload}}} 1.0" in text
    assert 'hydro_control_plane_builds_total{outcome="released",runtime="process"} 1.0' in text
    assert "hydro_control_plane_build_duration_seconds_bucket" in text
    assert "hydro_control_plane_request_duration_seconds_bucket" in text


async def test_the_app_factory_opens_its_own_state_in_its_lifespan(tmp_path: Path, database_url: str) -> None:
    app = create_app(make_settings(tmp_path, database_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://cp", headers=headers) as client:
            name = unique("asgi")
            response = await client.post(f"/api/v1/models/{name}/versions", content=package(name))
            assert response.status_code == 202, response.text
            assert (await client.get("/api/v1/health")).json() == {"status": "ok"}
            await app.state.hydro.builder.wait_idle()
            version = (await client.get(f"/api/v1/models/{name}/versions/1")).json()
            assert version["status"] == "released"


async def test_the_migrations_create_exactly_the_orm_schema(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        await migrate(engine)  # a second run is a no-op

        def differences(connection: Connection) -> list[object]:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))

        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await engine.dispose()


def test_python_m_control_plane_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    port, catalog = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYDRO_")}
    env.update(
        HYDRO_HOME=str(tmp_path),
        HYDRO_CONTROL_PLANE_PORT=str(port),
        HYDRO_CATALOG_PORT=str(catalog),
        HYDRO_ADMIN_TOKEN=ADMIN_TOKEN,
        PYTHONPATH=str(REPO_ROOT),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "control_plane"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.communicate()[0].decode()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the control plane did not answer /api/v1/health within 30 s"
            time.sleep(0.1)
        assert (tmp_path / "hydro.db").exists()  # the embedded default: SQLite under HYDRO_HOME
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=20)[0].decode()
        assert process.returncode == 0, output
        assert "Traceback" not in output, output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_busy_port_is_reported_clearly(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("HYDRO_")}
        env.update(
            HYDRO_HOME=str(tmp_path),
            HYDRO_CONTROL_PLANE_PORT=str(port),
            HYDRO_CATALOG_PORT=str(free_port()),
            HYDRO_ADMIN_TOKEN=ADMIN_TOKEN,
            PYTHONPATH=str(REPO_ROOT),
        )
        result = subprocess.run(
            [sys.executable, "-m", "control_plane"], env=env, capture_output=True, text=True, timeout=30
        )
    assert result.returncode == 1
    assert f"the control plane API cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


async def test_the_api_cuts_off_slow_clients_with_the_shared_timeouts(tmp_path: Path) -> None:
    # The guard itself is tested in tests/servicekit/test_slow_clients.py; this checks the control plane
    # serves behind it with its settings (HYDRO_HTTP_HEADER_TIMEOUT_S, HYDRO_HTTP_BODY_TIMEOUT_S).
    settings = make_settings(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path}/hydro.db",
        http_header_timeout_s=0.5,
        http_body_timeout_s=0.5,
    )
    async with running(settings) as control_plane:
        idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", settings.control_plane_port)
        reader, writer = await asyncio.open_connection("127.0.0.1", settings.control_plane_port)
        writer.write(
            b"POST /api/v1/models/m/versions HTTP/1.1\r\nhost: cp\r\ncontent-length: 100\r\n"
            + f"authorization: Bearer {ADMIN_TOKEN}\r\n\r\nten bytes!".encode()
        )

        assert await asyncio.wait_for(idle_reader.read(), 5) == b""
        assert (await asyncio.wait_for(reader.read(), 5)).startswith(b"HTTP/1.1 408 ")
        assert (await control_plane.client.get("/api/v1/health")).status_code == 200
        idle_writer.close()
        writer.close()

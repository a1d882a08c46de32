"""Fixtures that start the real platform: on PostgreSQL + Docker + registry, and on the embedded default."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import asyncpg
import docker
import httpx
import pytest

from tests.e2e.platform import Platform, running_platform

REGISTRY = os.environ.get("HYDRO_REGISTRY", "127.0.0.1:5000")
BASE_IMAGE = os.environ.get("HYDRO_RUNTIME_BASE_IMAGE", "hydro/runtime-base:py3.11")
POSTGRES_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def require_docker_parts() -> None:
    """Fail, naming what is missing, when the real Docker parts are not there (`make test` sets them up)."""
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:
        pytest.fail(f"Docker engine not reachable ({exc}); start it with `scripts/services.sh start`")
    try:
        httpx.get(f"http://{REGISTRY}/v2/", timeout=2).raise_for_status()
    except httpx.HTTPError as exc:
        pytest.fail(f"registry {REGISTRY} not answering ({exc}); start it with `scripts/services.sh start`")
    try:
        client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"runtime base image {BASE_IMAGE} missing; build it with `scripts/build_base_image.sh`")
    wheelhouse = os.environ.get("HYDRO_WHEELHOUSE")
    if not wheelhouse or not os.path.isdir(wheelhouse):
        pytest.fail("HYDRO_WHEELHOUSE is not set to a directory; `make wheelhouse` builds it")


async def _admin(sql: str) -> None:
    try:
        connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 not reachable ({exc})")
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    name = f"hydro_e2e_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f"CREATE DATABASE {name}"))
    yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(scope="session")
def docker_platform(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Platform]:
    require_docker_parts()
    yield from running_platform(
        tmp_path_factory.mktemp("docker-platform"),
        HYDRO_DATABASE_URL=postgres_url,
        HYDRO_RUNTIME="docker",
        HYDRO_REGISTRY=REGISTRY,
        HYDRO_RUNTIME_BASE_IMAGE=BASE_IMAGE,
        HYDRO_WHEELHOUSE=os.environ.get("HYDRO_WHEELHOUSE", ""),
    )


@pytest.fixture(scope="session")
def embedded_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    yield from running_platform(tmp_path_factory.mktemp("embedded-platform"), HYDRO_RUNTIME="process")

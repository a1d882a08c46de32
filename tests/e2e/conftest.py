"""Fixtures that start the real platform: on PostgreSQL + Docker + registry, and on the embedded default."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import asyncpg
import pytest

from tests.e2e.platform import Platform, running_platform
from tests.real_parts import BASE_IMAGE, REGISTRY, require_docker_parts

POSTGRES_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def require_platform_parts() -> None:
    """Fail, naming what is missing, when the real Docker parts or the wheelhouse are not there."""
    require_docker_parts().close()
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
    require_platform_parts()
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

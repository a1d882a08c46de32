"""Fixtures: a real catalog server, model packages on disk, and scalers started in the test's loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.scaler.catalog import CatalogServer, snapshot
from tests.scaler.harness import RunningScaler, kill_leftover_runtimes, scaler_settings
from tests.scaler.packages import write_package

ScalerFactory = Callable[..., Awaitable[RunningScaler]]


@pytest.fixture
def package_url(tmp_path: Path) -> str:
    """file:// URL of the package of `double:1`, as the control plane's file object store records it."""
    return write_package(tmp_path / "double-1.tar.gz", "double", 1).as_uri()


@pytest.fixture
async def catalog() -> AsyncIterator[CatalogServer]:
    server = CatalogServer(snapshot(1, []))
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def start_scaler(tmp_path: Path, catalog: CatalogServer) -> AsyncIterator[ScalerFactory]:
    """Start scalers (process backend unless told otherwise); stop them all, and their replicas, after."""
    running: list[RunningScaler] = []
    home = tmp_path / "home"

    async def start(**overrides: Any) -> RunningScaler:
        overrides.setdefault("catalog_address", catalog.address)
        settings = scaler_settings(home, **overrides)
        scaler = RunningScaler(settings)
        running.append(scaler)
        return await scaler.start()

    yield start
    for scaler in running:
        await scaler.stop()
    leftovers = kill_leftover_runtimes(home)
    assert not leftovers, f"runtime processes outlived their scaler: {leftovers}"

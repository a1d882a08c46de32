"""Fixtures: the router's `serve()` in the test's loop, between a catalog and a scaler stand-in.

The stand-ins (see `standins.py`) are real gRPC servers on loopback that replace the control plane and
the scaler, so these tests exercise the router alone; the replicas are real `python -m runtime`
processes serving the tiny models of `models.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from protos.hydro.v1 import catalog_pb2
from router.server import serve
from router.settings import Settings
from tests.ports import free_port
from tests.router.harness import (
    RouterLog,
    RouterUnderTest,
    StartRouter,
    cancel,
    routing_snapshot,
    write_models,
)
from tests.router.standins import SERVICE_TOKEN, CatalogStandIn, ScalerStandIn


@pytest.fixture
def model_dirs(tmp_path: Path) -> dict[str, Path]:
    return write_models(tmp_path / "models")


@pytest.fixture
async def start_router(tmp_path: Path, model_dirs: dict[str, Path]) -> AsyncIterator[StartRouter]:
    """Start a router (with its stand-ins); everything, runtime processes included, stops afterwards.

    Keyword arguments: `snapshot` (default `routing_snapshot()`), `knobs` (for the default deployment
    config), `scaler` (ScalerStandIn field overrides) and any router Settings field.
    """
    async with contextlib.AsyncExitStack() as stack:

        async def start(
            *,
            snapshot: catalog_pb2.Snapshot | None = None,
            knobs: dict[str, Any] | None = None,
            scaler: dict[str, Any] | None = None,
            **overrides: Any,
        ) -> RouterUnderTest:
            catalog = CatalogStandIn(snapshot if snapshot is not None else routing_snapshot(**(knobs or {})))
            await catalog.start()
            stack.push_async_callback(catalog.stop)
            logs = tmp_path / "logs"
            logs.mkdir(exist_ok=True)
            scaler_standin = ScalerStandIn(model_dirs, logs, **(scaler or {}))
            await scaler_standin.start()
            stack.push_async_callback(scaler_standin.stop)
            settings = Settings(
                **{
                    "bind_host": "127.0.0.1",
                    "router_http_port": free_port(),
                    "router_grpc_port": free_port(),
                    "catalog_address": catalog.address,
                    "scaler_address": scaler_standin.address,
                    "router_id": "router-under-test",
                    "service_token": SERVICE_TOKEN,
                    "sonar_address": "",  # sampling off unless a test starts a Sonar
                    # A stand-in replica can take longer than the 5 s default to start on a loaded CI machine;
                    # tests that count activations must not see the router's re-activation while it waits.
                    "router_reactivate_interval_s": 60,
                    **overrides,
                }
            )
            started = asyncio.Event()
            task = asyncio.create_task(serve(settings, started=started))
            stack.push_async_callback(cancel, task)
            waiter = asyncio.create_task(started.wait())
            await asyncio.wait({task, waiter}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if task.done():
                task.result()
            assert started.is_set(), "the router did not start within 15 s"
            http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.router_http_port}", timeout=60)
            stack.push_async_callback(http.aclose)
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{settings.router_grpc_port}")
            stack.push_async_callback(channel.close, None)
            return RouterUnderTest(settings, catalog, scaler_standin, http, channel)

        yield start


@pytest.fixture
def router_log(capsys: pytest.CaptureFixture[str]) -> RouterLog:
    """The router's JSON request lines (it runs in the test's process and writes them to stderr)."""
    return RouterLog(capsys)

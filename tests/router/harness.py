"""The router under test and what the tests share: model folders, the routing snapshot, waiting helpers."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from protos.hydro.v1 import catalog_pb2
from protos.inference import grpc_service_pb2_grpc as pb_grpc
from router.settings import Settings
from tests.router import models
from tests.router.standins import CatalogStandIn, ScalerStandIn, application, config, snapshot, version


def write_models(root: Path) -> dict[str, Path]:
    """Every test model, by version key."""
    return {
        "double:1": models.write_model(root / "double-1", "double", 1, models.DOUBLE, models.X, models.Y),
        "add-one:1": models.write_model(root / "add-one-1", "add-one", 1, models.ADD_ONE, models.Y, models.Z),
        "which:1": models.write_model(
            root / "which-1", "which", 1, models.WHICH.format(version=1), models.X, models.V
        ),
        "which:2": models.write_model(
            root / "which-2", "which", 2, models.WHICH.format(version=2), models.X, models.V
        ),
        "slow:1": models.write_model(root / "slow-1", "slow", 1, models.SLOW, models.X, models.SLOW_OUTPUTS),
        "failing:1": models.write_model(root / "failing-1", "failing", 1, models.FAILING, models.X, models.Y),
        # The runtime of `strict` insists on exactly two values, where the catalog's signature allows any
        # number: only the replica can refuse three.
        "strict:1": models.write_model(
            root / "strict-1",
            "strict",
            1,
            models.DOUBLE,
            [{"name": "x", "datatype": "FP64", "shape": [2]}],
            models.Y,
        ),
    }


def routing_snapshot(revision: int = 1, **knobs: Any) -> catalog_pb2.Snapshot:
    """The applications the tests call; `knobs` change the `default` deployment config."""
    return snapshot(
        revision,
        [
            application("double", [("double:1", 100)]),
            application("pipeline", [("double:1", 100)], [("add-one:1", 100)]),
            application("ab", [("which:1", 80), ("which:2", 20)]),
            application("slow", [("slow:1", 100)]),
            application("failing", [("failing:1", 100)]),
            application("strict", [("strict:1", 100)]),
        ],
        [
            version("double", 1, models.X, models.Y),
            version("add-one", 1, models.Y, models.Z),
            version("which", 1, models.X, models.V),
            version("which", 2, models.X, models.V),
            version("slow", 1, models.X, models.SLOW_OUTPUTS),
            version("failing", 1, models.X, models.Y),
            version("strict", 1, models.X, models.Y),
        ],
        [config("default", **knobs)],
    )


@dataclass
class RouterUnderTest:
    settings: Settings
    catalog: CatalogStandIn
    scaler: ScalerStandIn
    http: httpx.AsyncClient
    """A client with the router's HTTP base URL."""
    grpc_channel: grpc.aio.Channel

    @property
    def inference(self) -> pb_grpc.GRPCInferenceServiceStub:
        return pb_grpc.GRPCInferenceServiceStub(self.grpc_channel)  # type: ignore[no-untyped-call]

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.settings.router_grpc_port}"

    async def metrics(self) -> str:
        response = await self.http.get("/metrics")
        assert response.status_code == 200, response.text
        return response.text


StartRouter = Callable[..., Awaitable[RouterUnderTest]]


class RouterLog:
    """The router's JSON lines on stderr, as the test reads them."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys
        self.text = ""

    def lines(self) -> list[dict[str, Any]]:
        self.text += self._capsys.readouterr().err
        found = [json.loads(line) for line in self.text.splitlines() if line.startswith("{")]
        return [line for line in found if line.get("logger") == "router.requests"]

    def of(self, request_id: str) -> dict[str, Any]:
        [line] = [line for line in self.lines() if line["request_id"] == request_id]
        return line


async def cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> None:
    """Await `condition()` (a value or an awaitable) turning truthy, checking every 20 ms."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def status_is(router: RouterUnderTest, path: str, status: int) -> bool:
    return (await router.http.get(path)).status_code == status


async def gauge(router: RouterUnderTest, name: str, version_key: str) -> float:
    """The value of the router's per-version gauge `name` (0 when absent)."""
    for line in (await router.metrics()).splitlines():
        if line.startswith(f'{name}{{version="{version_key}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def until_ready(router: RouterUnderTest, version_key: str, count: int) -> None:
    """Wait until the router has `count` replicas of the version in rotation."""

    async def ready() -> bool:
        return await gauge(router, "hydro_router_ready_replicas", version_key) >= count

    await wait_until(ready, 5, f"{count} ready replicas of {version_key} in the router")


async def until_queued(router: RouterUnderTest, version_key: str, count: int) -> None:
    """Wait until the router holds `count` requests for the version."""

    async def queued() -> bool:
        return await gauge(router, "hydro_router_queue_depth", version_key) >= count

    await wait_until(queued, 5, f"{count} requests held for {version_key}")

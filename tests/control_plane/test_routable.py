"""Routable, not just declared: an application is routable once every router connected to the control
plane acknowledged the catalog revision that declared it, and `PUT ...?wait=true` answers only then (or,
bounded by `timeout_s`, says it is not and why), so an invoke sent right after it finds the application.

The routers here are a real router (`router.server.serve`, following the real control plane's catalog,
with the scaler stand-in of tests/router starting real runtime processes) and a raw gRPC watcher that
says it is a router but acknowledges only when the test tells it to (a stalled router).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from protos.hydro.v1 import catalog_pb2, catalog_pb2_grpc
from router.server import serve
from router.settings import Settings as RouterSettings
from servicekit.grpc_security import ServiceLink
from tests.control_plane.conftest import SERVICE_TOKEN, ControlPlane, unique
from tests.control_plane.packages import package
from tests.ports import free_port
from tests.router import models
from tests.router.harness import cancel
from tests.router.standins import ScalerStandIn


@dataclass
class RawRouter:
    """A watch of kind "router" that reads snapshots and acknowledges only on request."""

    stub: Any
    stream: grpc.aio.UnaryStreamCall[catalog_pb2.WatchRequest, catalog_pb2.Snapshot]

    async def next(self) -> catalog_pb2.Snapshot:
        message = await asyncio.wait_for(self.stream.read(), timeout=10)
        assert isinstance(message, catalog_pb2.Snapshot), message
        return message

    async def acknowledge(self, snapshot: catalog_pb2.Snapshot) -> bool:
        reply = await self.stub.Acknowledge(
            catalog_pb2.Acknowledgement(watch_id=snapshot.watch_id, revision=snapshot.revision)
        )
        known: bool = reply.known
        return known


@contextlib.asynccontextmanager
async def raw_watch(control_plane: ControlPlane, kind: str = "router") -> AsyncIterator[RawRouter]:
    async with ServiceLink(SERVICE_TOKEN).channel(control_plane.catalog_address) as channel:
        stub = catalog_pb2_grpc.CatalogStub(channel)  # type: ignore[no-untyped-call]
        stream = stub.Watch(catalog_pb2.WatchRequest(client=f"raw-{kind or 'watcher'}", kind=kind))
        try:
            yield RawRouter(stub, stream)
        finally:
            stream.cancel()


async def declare(control_plane: ControlPlane, app: str, model: str, query: str = "") -> dict[str, Any]:
    spec = {"variants": [{"model": model, "version": 1}]}
    response = await control_plane.client.put(f"/api/v1/applications/{app}{query}", json=spec)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def until(condition: Any, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        await asyncio.sleep(0.02)


async def test_routable_says_whether_every_connected_router_serves_the_revision(
    control_plane: ControlPlane,
) -> None:
    model, app = unique("routed"), unique("app")
    await control_plane.release(model, package(model))

    # No router at all: not routable, and the answer says why, at once (there is nobody to wait for).
    started = time.monotonic()
    alone = await declare(control_plane, app, model, "?wait=true&timeout_s=30")
    assert time.monotonic() - started < 5
    assert alone["routable"] is False
    assert alone["routers"] == {"connected": 0, "acknowledged": 0}
    assert alone["routable_reason"] == "no router is connected to this control plane's catalog watch"

    async with raw_watch(control_plane) as stalled, raw_watch(control_plane, kind="") as scaler_like:
        first = await stalled.next()
        assert first.watch_id and first.revision >= alone["revision"]
        assert not (await scaler_like.next()).watch_id  # only routers get a watch id, and only they count

        # Connected but silent: not routable, on GET as on a bounded PUT ?wait=true.
        async def connected() -> bool:
            body = (await control_plane.client.get(f"/api/v1/applications/{app}")).json()
            return bool(body["routers"]["connected"] == 1)

        await until(connected, "the raw router counted as connected")
        got = (await control_plane.client.get(f"/api/v1/applications/{app}")).json()
        assert (got["routable"], got["routers"]) == (False, {"connected": 1, "acknowledged": 0})
        assert got["routable_reason"] == (
            f"1 of 1 connected routers have not acknowledged catalog revision {got['revision']} yet"
        )
        started = time.monotonic()
        stalled_put = await declare(control_plane, app, model, "?wait=true&timeout_s=0.5")
        assert 0.5 <= time.monotonic() - started < 5  # bounded by timeout_s, and it waited that long
        assert stalled_put["routable"] is False and stalled_put["routers"]["acknowledged"] == 0

        # Once it acknowledges the revision the PUT produced, GET says routable.
        snapshot = await stalled.next()
        while snapshot.revision < stalled_put["revision"]:
            snapshot = await stalled.next()
        assert await stalled.acknowledge(snapshot)
        got = (await control_plane.client.get(f"/api/v1/applications/{app}")).json()
        assert got["routable"] is True and got["routable_reason"] is None
        assert got["routers"] == {"connected": 1, "acknowledged": 1}

        # A PUT ?wait=true answers as soon as the router acknowledges its revision, not at its timeout.
        waiting = asyncio.create_task(declare(control_plane, app, model, "?wait=true&timeout_s=30"))
        snapshot = await stalled.next()
        await asyncio.sleep(0.2)
        assert not waiting.done(), "the PUT answered before the router acknowledged"
        assert await stalled.acknowledge(snapshot)
        answered = await asyncio.wait_for(waiting, 10)
        assert answered["routable"] is True and answered["revision"] == snapshot.revision

        # An acknowledgement of a revision older than the current one does not make it routable.
        newer = await declare(control_plane, app, model)
        assert newer["revision"] > snapshot.revision and newer["routable"] is False

    # The stalled router left: nobody serves, so nothing is routable.
    async def gone() -> bool:
        body = (await control_plane.client.get(f"/api/v1/applications/{app}")).json()
        return bool(body["routers"]["connected"] == 0 and body["routable"] is False)

    await until(gone, "the closed watch no longer counted")


async def test_acknowledgements_and_waits_are_checked(control_plane: ControlPlane) -> None:
    model, app = unique("checked"), unique("app")
    await control_plane.release(model, package(model))
    spec = {"variants": [{"model": model, "version": 1}]}
    for query, problem in [
        ("?wait=maybe", "query parameter wait must be true or false, not 'maybe'"),
        (
            "?wait=true&timeout_s=61",
            "query parameter timeout_s must be a number of seconds from 0 to 60, not '61'",
        ),
        (
            "?wait=true&timeout_s=soon",
            "query parameter timeout_s must be a number of seconds from 0 to 60, not 'soon'",
        ),
        (
            "?wait=true&timeout_s=nan",
            "query parameter timeout_s must be a number of seconds from 0 to 60, not 'nan'",
        ),
    ]:
        response = await control_plane.client.put(f"/api/v1/applications/{app}{query}", json=spec)
        assert (response.status_code, response.json()) == (400, {"error": problem}), query
    assert (
        await control_plane.client.get(f"/api/v1/applications/{app}")
    ).status_code == 404  # nothing stored

    async with ServiceLink(SERVICE_TOKEN).channel(control_plane.catalog_address) as channel:
        stub = catalog_pb2_grpc.CatalogStub(channel)  # type: ignore[no-untyped-call]
        reply = await stub.Acknowledge(catalog_pb2.Acknowledgement(watch_id="router-x#999", revision=5))
        assert reply.known is False
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Watch(catalog_pb2.WatchRequest(client="odd", kind="sonar-ish")).read()
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "unknown watcher kind 'sonar-ish'" in (refused.value.details() or "")
    async with ServiceLink("not-the-service-token").channel(control_plane.catalog_address) as channel:
        stub = catalog_pb2_grpc.CatalogStub(channel)  # type: ignore[no-untyped-call]
        with pytest.raises(grpc.aio.AioRpcError) as stranger:
            await stub.Acknowledge(catalog_pb2.Acknowledgement(watch_id="router-x#1", revision=5))
        assert stranger.value.code() == grpc.StatusCode.UNAUTHENTICATED


@contextlib.asynccontextmanager
async def real_router(
    control_plane: ControlPlane, model_dirs: dict[str, Path], logs: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """A router following `control_plane`'s catalog; the scaler stand-in runs real runtime processes."""
    scaler = ScalerStandIn(model_dirs, logs)
    await scaler.start()
    settings = RouterSettings(
        bind_host="127.0.0.1",
        router_http_port=free_port(),
        router_grpc_port=free_port(),
        catalog_address=control_plane.catalog_address,
        scaler_address=scaler.address,
        router_id="router-routable",
        service_token=SERVICE_TOKEN,
        sonar_address="",
        router_reactivate_interval_s=60,
    )
    started = asyncio.Event()
    task = asyncio.create_task(serve(settings, started=started))
    try:
        await asyncio.wait_for(started.wait(), 15)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{settings.router_http_port}", timeout=60
        ) as http:
            yield http
    finally:
        await cancel(task)
        await scaler.stop()


async def test_an_invoke_right_after_put_wait_never_misses(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    model = unique("double")
    await control_plane.release(model, package(model))
    replica = models.write_model(tmp_path / "double", model, 1, models.DOUBLE, models.X, models.Y)
    logs = tmp_path / "logs"
    logs.mkdir()
    async with real_router(control_plane, {f"{model}:1": replica}, logs) as router:
        for attempt in range(50):
            app = unique(f"try{attempt}")
            declared = await declare(control_plane, app, model, "?wait=true&timeout_s=20")
            assert declared["routable"] is True, declared
            assert declared["routers"] == {"connected": 1, "acknowledged": 1}
            response = await router.post(f"/apps/{app}", json={"x": [attempt]})
            assert response.status_code == 200, (attempt, response.status_code, response.text)
            assert response.json() == {"y": [2.0 * attempt]}

    # The router stopped: its watch closed, so the last application is no longer said to be routable.
    async def router_gone() -> bool:
        body = (await control_plane.client.get(f"/api/v1/applications/{app}")).json()
        return bool(body["routers"] == {"connected": 0, "acknowledged": 0} and body["routable"] is False)

    await until(router_gone, "the stopped router no longer counted")

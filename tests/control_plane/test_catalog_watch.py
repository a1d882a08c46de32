"""Router and scaler watch the routing snapshot over gRPC: a full one on connect, a new one per change;
only with the service credential."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import grpc
import pytest

from protos.hydro.v1 import catalog_pb2, catalog_pb2_grpc
from router.catalog_watch import CatalogWatch
from servicekit.grpc_security import ServiceLink
from tests.control_plane.conftest import SERVICE_TOKEN, ControlPlane, make_settings, running, unique
from tests.control_plane.packages import SIGNATURE, package
from wire.signature import Signature


async def _next(
    stream: grpc.aio.UnaryStreamCall[catalog_pb2.WatchRequest, catalog_pb2.Snapshot],
) -> catalog_pb2.Snapshot:
    message = await asyncio.wait_for(stream.read(), timeout=10)
    assert isinstance(message, catalog_pb2.Snapshot), message
    return message


async def test_watch_sends_a_snapshot_on_connect_and_after_each_change(control_plane: ControlPlane) -> None:
    model, app, small = unique("watched"), unique("app"), unique("small")
    await control_plane.release(model, package(model))

    async with ServiceLink(SERVICE_TOKEN).channel(control_plane.catalog_address) as channel:
        stub = catalog_pb2_grpc.CatalogStub(channel)  # type: ignore[no-untyped-call]
        stream = stub.Watch(catalog_pb2.WatchRequest(client="test-router"))
        first = await _next(stream)
        assert first.revision > 0
        default = next(c for c in first.deployment_configs if c.name == "default")
        assert default.target_concurrency == 100.0 and default.scale_to_zero_grace_s == 30.0
        assert default.max_queue == 1000 and default.initial_scale == 1

        await control_plane.client.put(f"/api/v1/deployment-configs/{small}", json={"max_replicas": 2})
        second = await _next(stream)
        assert second.revision > first.revision
        assert next(c for c in second.deployment_configs if c.name == small).max_replicas == 2

        spec = {"variants": [{"model": model, "version": 1, "weight": 100, "deployment_config": small}]}
        assert (await control_plane.client.put(f"/api/v1/applications/{app}", json=spec)).status_code == 200
        third = await _next(stream)
        assert third.revision > second.revision
        application = next(a for a in third.applications if a.name == app)
        assert application.sampling_rate == 1.0 and not application.require_invoke_key
        assert [(v.version_key, v.weight, v.deployment_config) for v in application.stages[0].variants] == [
            (f"{model}:1", 100, small)
        ]
        version = next(v for v in third.versions if v.key == f"{model}:1")
        assert (version.model, version.version, version.deployment_config) == (model, 1, small)
        assert version.image == "" and version.digest == ""  # process runtime: no image
        assert version.artifact_url == (control_plane.objects / f"models/{model}/1/package.tar.gz").as_uri()
        assert Signature.from_proto(version.signature) == Signature.from_dict(SIGNATURE)

        assert (await control_plane.client.delete(f"/api/v1/applications/{app}")).status_code == 204
        fourth = await _next(stream)
        assert fourth.revision > third.revision
        assert app not in [a.name for a in fourth.applications]
        assert f"{model}:1" not in [v.key for v in fourth.versions]
        stream.cancel()


async def test_the_revision_keeps_increasing_across_restarts(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url)
    revisions = []
    for _ in range(2):
        async with running(settings) as control_plane:
            await control_plane.client.put(f"/api/v1/deployment-configs/{unique('c')}", json={})
            async with ServiceLink(SERVICE_TOKEN).channel(control_plane.catalog_address) as channel:
                stub = catalog_pb2_grpc.CatalogStub(channel)  # type: ignore[no-untyped-call]
                stream = stub.Watch(catalog_pb2.WatchRequest(client="test"))
                revisions.append((await _next(stream)).revision)
                stream.cancel()
        settings = make_settings(tmp_path, database_url)  # new ports, same database
    assert revisions[1] > revisions[0]


async def test_many_watchers_all_see_the_change(control_plane: ControlPlane) -> None:
    async with ServiceLink(SERVICE_TOKEN).channel(control_plane.catalog_address) as channel:
        stub = catalog_pb2_grpc.CatalogStub(channel)  # type: ignore[no-untyped-call]
        streams = [stub.Watch(catalog_pb2.WatchRequest(client=f"watcher-{i}")) for i in range(5)]
        initial = [await _next(stream) for stream in streams]
        name = unique("shared")
        await control_plane.client.put(f"/api/v1/deployment-configs/{name}", json={})
        updates = [await _next(stream) for stream in streams]
        for before, after in zip(initial, updates, strict=True):
            assert after.revision > before.revision
            assert name in [c.name for c in after.deployment_configs]
        for stream in streams:
            stream.cancel()


async def test_a_router_without_the_service_credential_cannot_follow_the_catalog(
    control_plane: ControlPlane, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    strangers = {
        "a wrong credential": CatalogWatch(
            control_plane.catalog_address, link=ServiceLink("not-the-service-token"), client="stranger"
        ),
        "a real router's watch with the credential": CatalogWatch(
            control_plane.catalog_address, link=ServiceLink(SERVICE_TOKEN), client="router-1"
        ),
    }
    tasks = [asyncio.create_task(watch.run()) for watch in strangers.values()]
    try:
        trusted = await strangers["a real router's watch with the credential"].wait_view(10)
        assert trusted is not None and trusted.revision > 0
        assert await strangers["a wrong credential"].wait_view(1) is None
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # A caller that sends nothing at all hears why, and the catalog logs every refused attempt.
    async with grpc.aio.insecure_channel(control_plane.catalog_address) as channel:
        stub = catalog_pb2_grpc.CatalogStub(channel)  # type: ignore[no-untyped-call]
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _next(stub.Watch(catalog_pb2.WatchRequest(client="anonymous")))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert refused.value.details() == (
        "/hydro.v1.Catalog/Watch needs the service credential (gRPC metadata `authorization: Bearer "
        "<HYDRO_SERVICE_TOKEN>`): no `authorization` metadata was sent"
    )
    warnings = [r.getMessage() for r in caplog.records if r.name == "servicekit.grpc_security"]
    assert any(
        re.fullmatch(
            r"refused /hydro\.v1\.Catalog/Watch from ipv4:127\.0\.0\.1:\d+: the bearer token is not the "
            r"service credential",
            line,
        )
        for line in warnings
    ), warnings
    assert any(line.endswith(": no `authorization` metadata was sent") for line in warnings), warnings

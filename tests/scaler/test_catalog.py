"""The scaler follows the control plane's catalog, and keeps serving from the last snapshot without it."""

from __future__ import annotations

import grpc
import pytest

from tests.scaler.catalog import CatalogServer, Version, snapshot
from tests.scaler.conftest import ScalerFactory
from tests.scaler.harness import eventually, pid_alive, ready_ids


async def test_while_the_control_plane_is_down_the_last_snapshot_still_serves_and_it_reconnects(
    catalog: CatalogServer, start_scaler: ScalerFactory, package_url: str
) -> None:
    catalog.publish(snapshot(2, [Version("double", 1, package_url)]))
    scaler = await start_scaler()
    watch = scaler.watch()
    await watch.until(lambda s: "double:1" in s, "the version is listed")
    port = catalog.port

    await catalog.stop()
    await scaler.activate("double:1")
    state = await watch.until(
        lambda s: len(ready_ids(s, "double:1")) == 1, "a replica is ready without the catalog"
    )
    pid = int(state["double:1"].ready[0].replica_id)

    # The control plane comes back without the version: its replica is stopped and it is no longer listed.
    await catalog.start(port)
    catalog.publish(snapshot(3, [Version("other", 1, package_url)]))
    await watch.until(lambda s: "double:1" not in s and "other:1" in s, "the catalog's new revision applies")
    await eventually(lambda: not pid_alive(pid), "the retired version's process is gone")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await scaler.activate("double:1")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_without_any_snapshot_activate_is_unavailable(start_scaler: ScalerFactory) -> None:
    scaler = await start_scaler(catalog_address="127.0.0.1:1", scaler_startup_wait_s=0.2)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await scaler.activate("double:1")
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "127.0.0.1:1" in (caught.value.details() or "")

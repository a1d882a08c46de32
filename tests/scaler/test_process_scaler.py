"""The scaler on the process backend, driven over gRPC like a router drives it.

A real catalog server lists the versions; replicas are real `python -m runtime` processes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest

from protos.hydro.v1 import scaler_pb2
from protos.inference import grpc_service_pb2_grpc
from tests.scaler.catalog import CatalogServer, Version, snapshot
from tests.scaler.conftest import ScalerFactory
from tests.scaler.harness import eventually, pid_alive, ready_ids
from tests.scaler.packages import write_package
from wire import oip_grpc

KEY = "double:1"


async def infer(address: str, x: list[float], model: str = "double") -> list[float]:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)  # type: ignore[no-untyped-call]
        request = oip_grpc.encode_infer_request(model, {"x": np.array(x)})
        response = await stub.ModelInfer(request, timeout=10)
    result: list[float] = oip_grpc.decode_infer_response(response)["y"].tolist()
    return result


async def test_fifty_concurrent_activations_start_one_replica_that_serves_then_scales_to_zero(
    catalog: CatalogServer, start_scaler: ScalerFactory, package_url: str
) -> None:
    catalog.publish(snapshot(2, [Version("double", 1, package_url)], default={"scale_to_zero_grace_s": 1.0}))
    scaler = await start_scaler()
    watch = scaler.watch()
    await watch.until(lambda s: KEY in s and not s[KEY].ready, "the scaler lists the version at zero")

    started = time.perf_counter()
    answers = await asyncio.gather(*(scaler.activate(KEY) for _ in range(50)))
    assert all(a.desired_replicas == 1 for a in answers)

    state = await watch.until(lambda s: len(ready_ids(s, KEY)) == 1, "one replica is ready")
    cold_start = time.perf_counter() - started
    endpoint = state[KEY].ready[0]
    assert endpoint.address.startswith("127.0.0.1:")
    # Every state on the way showed at most one replica, starting or ready.
    assert max(len(s[KEY].ready) + s[KEY].starting for s in watch.states if KEY in s) == 1
    assert await infer(endpoint.address, [1.0, 2.5]) == [2.0, 5.0]
    pid = int(endpoint.replica_id)
    assert pid_alive(pid)
    print(f"process backend cold start (Activate -> ready endpoint): {cold_start:.3f} s")

    # No load reports: after the grace period the replica leaves the endpoints, then its process ends.
    await watch.until(
        lambda s: ready_ids(s, KEY) == [] and s[KEY].desired == 0, "the idle replica is removed"
    )
    await eventually(lambda: not pid_alive(pid), "the replica's process is gone")
    assert (await scaler.replicas())[KEY].ready == []


async def test_a_replica_killed_with_sigkill_leaves_the_endpoints_and_is_replaced(
    catalog: CatalogServer, start_scaler: ScalerFactory, package_url: str
) -> None:
    catalog.publish(snapshot(2, [Version("double", 1, package_url)]))
    scaler = await start_scaler()
    watch = scaler.watch()
    await scaler.activate(KEY)
    state = await watch.until(lambda s: len(ready_ids(s, KEY)) == 1, "one replica is ready")
    victim = state[KEY].ready[0].replica_id

    os.kill(int(victim), signal.SIGKILL)

    state = await watch.until(
        lambda s: victim not in ready_ids(s, KEY), "the killed replica leaves", timeout=2
    )
    state = await watch.until(lambda s: len(ready_ids(s, KEY)) == 1, "a replacement is ready")
    assert ready_ids(state, KEY) != [victim]


async def test_activate_of_an_unknown_version_is_not_found_naming_it(
    catalog: CatalogServer, start_scaler: ScalerFactory, package_url: str
) -> None:
    catalog.publish(snapshot(2, [Version("double", 1, package_url)]))
    scaler = await start_scaler()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await scaler.activate("nope:7")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "nope:7" in (caught.value.details() or "")

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await scaler.activate("")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_activate_waits_briefly_for_a_version_the_catalog_is_about_to_list(
    catalog: CatalogServer, start_scaler: ScalerFactory, package_url: str
) -> None:
    scaler = await start_scaler(scaler_catalog_wait_s=5.0)
    activation = asyncio.create_task(scaler.activate(KEY))
    await asyncio.sleep(0.3)
    catalog.publish(snapshot(2, [Version("double", 1, package_url)]))
    assert (await activation).desired_replicas == 1


async def test_load_reports_keep_the_replica_and_scale_out_under_concurrency(
    catalog: CatalogServer, start_scaler: ScalerFactory, package_url: str
) -> None:
    config = {
        "scale_to_zero_grace_s": 0.5,
        "stable_window_s": 1.0,
        "target_concurrency": 1.0,
        "max_replicas": 2,
    }
    catalog.publish(snapshot(2, [Version("double", 1, package_url)], default=config))
    scaler = await start_scaler()
    watch = scaler.watch()
    reports: asyncio.Queue[scaler_pb2.LoadReport | None] = asyncio.Queue()

    async def stream() -> object:
        while (report := await reports.get()) is not None:
            yield report

    call = scaler.stub.ReportLoad(stream())
    # A router holds 5 requests for the cold version: the load report alone wakes it, and the average
    # concurrency (5 / (1 x 0.7)) asks for more replicas than max_replicas allows.
    for _ in range(15):
        await reports.put(
            scaler_pb2.LoadReport(
                router_id="r1", versions=[scaler_pb2.VersionLoad(version_key=KEY, queued=5)]
            )
        )
        await asyncio.sleep(0.2)
        if len(ready_ids(watch.latest, KEY)) == 2:
            break
    state = await watch.until(lambda s: len(ready_ids(s, KEY)) == 2, "two replicas are ready")
    assert state[KEY].desired == 2

    await reports.put(scaler_pb2.LoadReport(router_id="r1", versions=[]))
    await watch.until(lambda s: ready_ids(s, KEY) == [], "the version is back at zero")
    await reports.put(None)
    await call


async def test_metrics_and_health_over_http(
    catalog: CatalogServer, start_scaler: ScalerFactory, package_url: str
) -> None:
    catalog.publish(snapshot(2, [Version("double", 1, package_url)]))
    scaler = await start_scaler()
    watch = scaler.watch()
    await scaler.activate(KEY)
    await watch.until(lambda s: len(ready_ids(s, KEY)) == 1, "one replica is ready")
    base = f"http://127.0.0.1:{scaler.settings.scaler_metrics_port}"
    async with httpx.AsyncClient() as client:
        health = (await client.get(f"{base}/health")).json()
        metrics = (await client.get(f"{base}/metrics")).text
        missing = await client.get(f"{base}/nope")
    assert health["catalog_connected"] is True and health["catalog_revision"] == 2
    assert 'hydro_scaler_replicas{state="ready",version="double:1"} 1.0' in metrics
    for phase in ("unpack", "start", "launch", "first-ready", "total"):
        assert f'hydro_scaler_replica_start_seconds_count{{backend="process",phase="{phase}"}} 1.0' in metrics
    assert missing.status_code == 404 and "error" in missing.json()


async def test_a_model_that_cannot_load_is_never_an_endpoint_and_is_retried_with_backoff(
    catalog: CatalogServer, start_scaler: ScalerFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = write_package(
        tmp_path / "broken-1.tar.gz", "broken", 1, source="raise RuntimeError('no weights')\n"
    )
    catalog.publish(snapshot(2, [Version("broken", 1, broken.as_uri())]))
    scaler = await start_scaler()
    watch = scaler.watch()
    caplog.set_level(logging.WARNING, logger="scaler")

    await scaler.activate("broken:1")
    failures = 'hydro_scaler_replica_failures_total{backend="process",stage="start",version="broken:1"}'
    base = f"http://127.0.0.1:{scaler.settings.scaler_metrics_port}"

    async def failed_starts() -> float:
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"{base}/metrics")).text
        lines = [line for line in text.splitlines() if line.startswith(failures)]
        return float(lines[0].split()[-1]) if lines else 0.0

    deadline = time.monotonic() + 20
    while await failed_starts() < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert await failed_starts() >= 2
    assert all(not ready_ids(state, "broken:1") for state in watch.states)
    assert "no weights" in caplog.text
    assert (await scaler.replicas())["broken:1"].desired == 1


async def test_a_starting_replica_is_not_stopped_for_being_idle(
    catalog: CatalogServer, start_scaler: ScalerFactory, tmp_path: Path
) -> None:
    # A model that takes a second to load.
    slow = "import time\ntime.sleep(1.0)\n\ndef double(inputs):\n    return {'y': inputs['x'] * 2}\n"
    package = write_package(tmp_path / "slow-1.tar.gz", "slow", 1, source=slow)
    catalog.publish(
        snapshot(2, [Version("slow", 1, package.as_uri())], default={"scale_to_zero_grace_s": 0.1})
    )
    scaler = await start_scaler()
    watch = scaler.watch()

    await scaler.activate("slow:1")
    # The grace period passes many times over while the model loads; the replica still becomes ready.
    await watch.until(lambda s: len(ready_ids(s, "slow:1")) == 1, "the slow replica is ready")
    starting = [s["slow:1"].starting for s in watch.states if "slow:1" in s]
    assert starting.count(1) >= 1 and all(n <= 1 for n in starting)
    # Once ready and idle for the grace period, it goes.
    await watch.until(lambda s: ready_ids(s, "slow:1") == [], "the idle replica is removed")


async def test_min_replicas_run_without_any_request_and_never_scale_to_zero(
    catalog: CatalogServer, start_scaler: ScalerFactory, package_url: str
) -> None:
    config = {"min_replicas": 1, "scale_to_zero_grace_s": 0.1}
    catalog.publish(snapshot(2, [Version("double", 1, package_url)], default=config))
    scaler = await start_scaler()
    watch = scaler.watch()
    state = await watch.until(lambda s: len(ready_ids(s, KEY)) == 1, "the minimum replica runs unasked")
    await asyncio.sleep(0.5)
    assert ready_ids(watch.latest, KEY) == ready_ids(state, KEY)
    assert watch.latest[KEY].desired == 1

"""Scale-down drains: a replica leaves the routers' rotation first, then is stopped only once its runtime
serves no request (real runtime processes, the test playing the router), or when the drain bound passes.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest

from protos.inference import grpc_service_pb2_grpc
from tests.scaler.catalog import CatalogServer, Version, snapshot
from tests.scaler.conftest import ScalerFactory
from tests.scaler.harness import eventually, pid_alive, ready_ids
from tests.scaler.packages import write_package
from wire import oip_grpc

KEY = "sleepy:1"
# y = 2x after sleeping x seconds: the answer proves the request ran to its end.
SLEEPY = """
    import time

    def double(inputs):
        time.sleep(float(inputs["x"][0]))
        return {"y": inputs["x"] * 2}
"""


@pytest.fixture
def sleepy_url(tmp_path: Path) -> str:
    return write_package(tmp_path / "sleepy-1.tar.gz", "sleepy", 1, source=SLEEPY).as_uri()


async def slow_infer(address: str, seconds: float) -> list[float]:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)  # type: ignore[no-untyped-call]
        request = oip_grpc.encode_infer_request("sleepy", {"x": np.array([seconds])})
        response = await stub.ModelInfer(request, timeout=60)
    result: list[float] = oip_grpc.decode_infer_response(response)["y"].tolist()
    return result


async def test_slow_requests_in_flight_during_scale_down_all_complete_before_their_replica_stops(
    catalog: CatalogServer, start_scaler: ScalerFactory, sleepy_url: str
) -> None:
    catalog.publish(snapshot(2, [Version("sleepy", 1, sleepy_url)], default={"min_replicas": 2}))
    # A stop gives the runtime only 0.5 s to finish on its own: what completes the requests is the drain.
    scaler = await start_scaler(scaler_drain_timeout_s=30.0, scaler_stop_timeout_s=0.5)
    watch = scaler.watch()
    state = await watch.until(lambda s: len(ready_ids(s, KEY)) == 2, "two replicas run")
    endpoints = list(state[KEY].ready)

    # Three 2-second requests on each replica, sent straight to them as a router would.
    calls = [
        asyncio.create_task(slow_infer(endpoint.address, 2.0)) for endpoint in endpoints for _ in range(3)
    ]
    await asyncio.sleep(0.5)  # all six are in flight
    scaled_down_at = time.monotonic()
    catalog.publish(snapshot(3, [Version("sleepy", 1, sleepy_url)], default={"scale_to_zero_grace_s": 0.0}))
    await watch.until(lambda s: ready_ids(s, KEY) == [], "both replicas leave the rotation", timeout=5)
    assert time.monotonic() - scaled_down_at < 1.0, "out of rotation at once, not after the requests"
    assert all(pid_alive(int(e.replica_id)) for e in endpoints), "stopped while still serving"

    answers = await asyncio.gather(*calls)
    assert answers == [[4.0]] * 6, "every request in flight got its answer"
    for endpoint in endpoints:
        await eventually(lambda e=endpoint: not pid_alive(int(e.replica_id)), "the drained replica stops")
    text = await scrape(scaler.settings.scaler_metrics_port)
    assert 'hydro_scaler_drain_seconds_count{backend="process",outcome="drained"} 2.0' in text


async def test_a_stuck_replica_is_stopped_when_the_drain_bound_passes(
    catalog: CatalogServer, start_scaler: ScalerFactory, sleepy_url: str
) -> None:
    catalog.publish(snapshot(2, [Version("sleepy", 1, sleepy_url)], default={"min_replicas": 1}))
    scaler = await start_scaler(scaler_drain_timeout_s=1.0, scaler_stop_timeout_s=1.0)
    watch = scaler.watch()
    state = await watch.until(lambda s: len(ready_ids(s, KEY)) == 1, "a replica runs")
    endpoint = state[KEY].ready[0]
    stuck = asyncio.create_task(slow_infer(endpoint.address, 300.0))
    await asyncio.sleep(0.5)

    began = time.monotonic()
    catalog.publish(snapshot(3, [Version("sleepy", 1, sleepy_url)], default={"scale_to_zero_grace_s": 0.0}))
    await watch.until(lambda s: ready_ids(s, KEY) == [], "the replica leaves the rotation", timeout=5)
    await eventually(lambda: not pid_alive(int(endpoint.replica_id)), "the stuck replica stops", timeout=10)
    took = time.monotonic() - began
    assert 1.0 <= took < 6.0, f"stopped {took:.2f} s after scale-down; the bound is 1 s (+1 s stop grace)"
    with pytest.raises(grpc.aio.AioRpcError):
        await stuck
    text = await scrape(scaler.settings.scaler_metrics_port)
    assert 'hydro_scaler_drain_seconds_count{backend="process",outcome="timeout"} 1.0' in text


async def scrape(port: int) -> str:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port}/metrics")
    response.raise_for_status()
    return response.text

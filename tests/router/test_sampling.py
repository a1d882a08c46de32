"""The router samples invokes to Sonar at each application's rate, and never lets Sonar slow or fail one.

A real Sonar process receives the records; what it wrote (Parquet on the local store) is counted per
application.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from prometheus_client import CollectorRegistry

from protos.hydro.v1 import catalog_pb2
from router.routing import RoutingTable
from router.sampler import Sampler
from servicekit.grpc_security import ServiceLink
from tests.router import models
from tests.router.harness import RouterUnderTest, StartRouter, cancel, wait_until
from tests.router.standins import SERVICE_TOKEN, application, config, snapshot, version
from tests.sonar.harness import local_parts, parse_metrics, start_sonar
from wire.oip_grpc import encode_infer_request, encode_infer_response


def rates_snapshot(rates: dict[str, float]) -> catalog_pb2.Snapshot:
    """One application per sampling rate, all on the same model version."""
    applications = []
    for name, rate in rates.items():
        app = application(name, [("double:1", 100)])
        app.sampling_rate = rate
        applications.append(app)
    return snapshot(1, applications, [version("double", 1, models.X, models.Y)], [config("default")])


async def metric(router: RouterUnderTest, name: str) -> float:
    return parse_metrics(await router.metrics()).get(name, 0.0)


def sonar_records(outcome: str) -> str:
    return f'hydro_router_sonar_records_total{{outcome="{outcome}"}}'


async def invoke(router: RouterUnderTest, app: str, times: int) -> None:
    for i in range(times):
        response = await router.http.post(f"/apps/{app}", json={"x": [float(i)]})
        assert response.status_code == 200, response.text


async def test_each_application_is_sampled_at_its_rate(start_router: StartRouter, tmp_path: Path) -> None:
    rates = rates_snapshot({"none": 0.0, "half": 0.5, "all": 1.0})
    store = tmp_path / "objects"
    sonar = await start_sonar(tmp_path, snapshot=rates, object_store_url=store.as_uri())
    router = await start_router(snapshot=rates, sonar_address=sonar.address)
    try:
        await invoke(router, "none", 100)
        await invoke(router, "half", 400)
        await invoke(router, "all", 100)

        async def all_acked() -> bool:
            metrics = parse_metrics(await router.metrics())
            return metrics[sonar_records("acked")] == metrics[sonar_records("sampled")]

        await wait_until(all_acked, 20, "Sonar acknowledging every sampled record")
    finally:
        assert await sonar.stop(signal.SIGTERM) == 0, sonar.log_text()
    table = pa.concat_tables(local_parts(store).values())
    applications = table.column("hydro_application").to_pylist()
    counts = {name: applications.count(name) for name in ("none", "half", "all")}
    assert counts["none"] == 0
    assert counts["all"] == 100
    # Binomial(400, 0.5): mean 200, standard deviation 10; the bound is 5 standard deviations.
    assert 150 <= counts["half"] <= 250, counts
    assert await metric(router, sonar_records("sampled")) == len(applications)


async def test_sonar_down_drops_records_and_invokes_still_succeed(
    start_router: StartRouter, tmp_path: Path
) -> None:
    # Sonar's future port, bound but not listening (refusing connections) until Sonar takes it.
    placeholder = socket.socket()
    placeholder.bind(("127.0.0.1", 0))
    port = placeholder.getsockname()[1]
    router = await start_router(
        snapshot=rates_snapshot({"all": 1.0}),
        sonar_address=f"127.0.0.1:{port}",
        router_sonar_buffer_records=20,
    )
    await invoke(router, "all", 60)
    assert await metric(router, sonar_records("sampled")) == 60
    assert await metric(router, 'hydro_router_sonar_records_dropped_total{reason="buffer_full"}') == 40
    assert await metric(router, "hydro_router_sonar_buffered_records") == 20
    assert await metric(router, sonar_records("acked")) == 0

    # Sonar comes up: the router connects on its own and sends what it buffered meanwhile.
    store = tmp_path / "objects"
    placeholder.close()
    sonar = await start_sonar(
        tmp_path, catalog_address=router.catalog.address, object_store_url=store.as_uri(), port=port
    )
    try:

        async def buffered_acked() -> bool:
            return await metric(router, sonar_records("acked")) == 20

        await wait_until(buffered_acked, 30, "the 20 buffered records acknowledged once Sonar is up")
        assert await metric(router, "hydro_router_sonar_connected") == 1
        await invoke(router, "all", 5)

        async def all_acked() -> bool:
            return await metric(router, sonar_records("acked")) == 25

        await wait_until(all_acked, 20, "new records acknowledged")
    finally:
        assert await sonar.stop(signal.SIGTERM) == 0, sonar.log_text()
    # The first 20 invokes waited in the buffer; invokes 21..60 were dropped.
    rows = pa.concat_tables(local_parts(store).values()).column("x").to_pylist()
    assert sorted(rows) == sorted([float(i) for i in range(20)] + [float(i) for i in range(5)])


async def test_records_wait_to_share_a_batch_unless_it_is_full(
    start_router: StartRouter, tmp_path: Path
) -> None:
    """A stream message costs far more than a record in it: records linger to share one, but a full
    batch goes at once."""
    rates = rates_snapshot({"all": 1.0})
    sonar = await start_sonar(tmp_path, snapshot=rates, object_store_url=(tmp_path / "objects").as_uri())
    try:
        lingering = await start_router(
            snapshot=rates, sonar_address=sonar.address, router_sonar_batch_linger_s=2.0
        )
        await asyncio.gather(*(invoke(lingering, "all", 1) for _ in range(40)))

        async def acked(router: RouterUnderTest, count: int) -> bool:
            return await metric(router, sonar_records("acked")) == count

        await wait_until(lambda: acked(lingering, 40), 20, "the 40 records acknowledged")
        batches = (await sonar.metrics())["hydro_sonar_ingest_batches_total"]
        assert batches <= 3, f"40 records in {batches:.0f} batches"

        # Batches of 10 records, and a linger far longer than the wait: full batches do not linger.
        full = await start_router(
            snapshot=rates,
            sonar_address=sonar.address,
            router_sonar_batch_records=10,
            router_sonar_batch_linger_s=600.0,
        )
        await asyncio.gather(*(invoke(full, "all", 1) for _ in range(30)))
        await wait_until(lambda: acked(full, 30), 20, "three full batches acknowledged without lingering")
    finally:
        assert await sonar.stop(signal.SIGTERM) == 0, sonar.log_text()


async def test_stopping_sends_a_lingering_batch_at_once(tmp_path: Path) -> None:
    rates = rates_snapshot({"all": 1.0})
    sonar = await start_sonar(tmp_path, snapshot=rates, object_store_url=(tmp_path / "objects").as_uri())
    sampler = Sampler(
        sonar.address, link=ServiceLink(SERVICE_TOKEN), registry=CollectorRegistry(), batch_linger_s=600.0
    )
    sender = asyncio.create_task(sampler.run())
    try:
        route = RoutingTable.from_snapshot(rates).routes["all"]
        (version,) = route.plan(lambda: 0.0)
        request = encode_infer_request("double", {"x": np.array([1.0, 2.0])})
        response = encode_infer_response("double", {"y": np.array([2.0, 4.0])})
        sample = sampler.start(route, "lingering")
        assert sample is not None
        sample.record(0, version, request, response, time.perf_counter())
        await wait_until(lambda: sampler.streaming, 20, "the sampler's stream to Sonar open")
        await asyncio.sleep(0.2)
        assert sampler.counts["sent"] == 0  # the batch lingers
        started = time.perf_counter()
        await sampler.drain(timeout_s=10)
        assert sampler.counts["acked"] == 1
        assert time.perf_counter() - started < 5
    finally:
        await cancel(sender)
        assert await sonar.stop(signal.SIGTERM) == 0, sonar.log_text()

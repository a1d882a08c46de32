"""An S3 outage: invokes keep their speed, Sonar's memory stays bounded, and what it drops is counted.

A real router samples every invoke of one application (and none of another, on the same model version)
to a real Sonar writing to the moto S3 server; the S3 server is stopped, the two applications are
invoked in turn, then the S3 server comes back and what Sonar still holds is written.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from protos.hydro.v1 import catalog_pb2
from tests.router import models
from tests.router.harness import RouterUnderTest, StartRouter, wait_until
from tests.router.standins import application, config, snapshot, version
from tests.sonar.conftest import S3Server
from tests.sonar.harness import SonarProcess, parse_metrics, s3_parts, start_sonar

INVOKES = 120
ITEMS = 500  # 4 KB of FP64 in and out per invoke: ~8 KB a record
MAX_BUFFERED = 400_000  # bytes: room for about 50 records


def outage_snapshot() -> catalog_pb2.Snapshot:
    sampled = application("sampled", [("double:1", 100)])
    unsampled = application("unsampled", [("double:1", 100)])
    unsampled.sampling_rate = 0.0
    return snapshot(1, [sampled, unsampled], [version("double", 1, models.X, models.Y)], [config("default")])


def accounted(metrics: dict[str, float]) -> tuple[float, float]:
    """(records Sonar accepted, records written + dropped + still held): equal at every moment."""
    dropped = sum(v for k, v in metrics.items() if k.startswith("hydro_sonar_records_dropped_total{"))
    return (
        metrics['hydro_sonar_records_total{outcome="accepted"}'],
        metrics["hydro_sonar_records_written_total"] + dropped + metrics["hydro_sonar_buffered_records"],
    )


async def timed_invoke(router: RouterUnderTest, app: str, request_id: str, x: list[float]) -> float:
    started = time.perf_counter()
    response = await router.http.post(f"/apps/{app}", json={"x": x}, headers={"X-Request-Id": request_id})
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    return elapsed


async def test_s3_outage_keeps_invokes_fast_and_counts_drops(
    start_router: StartRouter, tmp_path: Path, s3_server: S3Server
) -> None:
    sonar: SonarProcess = await start_sonar(
        tmp_path,
        snapshot=outage_snapshot(),
        object_store_url=f"s3://{s3_server.bucket}/outage",
        s3_endpoint_url=s3_server.endpoint,
        sonar_flush_age_s=0.2,
        sonar_max_buffered_bytes=MAX_BUFFERED,
        sonar_retry_initial_s=0.1,
        sonar_retry_max_s=0.5,
    )
    router = await start_router(snapshot=outage_snapshot(), sonar_address=sonar.address)
    try:
        x = np.random.default_rng(0).normal(size=ITEMS).tolist()
        await timed_invoke(router, "sampled", "warm-up", x)  # cold start of the replica, and a first part
        await timed_invoke(router, "unsampled", "warm-up-unsampled", x)

        async def written(count: int) -> bool:
            return (await sonar.metrics()).get("hydro_sonar_records_written_total") == count

        await wait_until(lambda: written(1), 20, "the warm-up record written to S3")

        s3_server.server.stop()
        sampled_s = unsampled_s = 0.0
        for i in range(INVOKES):  # in turn, so that both see the same machine
            unsampled_s += await timed_invoke(router, "unsampled", f"off-{i}", x)
            sampled_s += await timed_invoke(router, "sampled", f"on-{i}", x)
        print(
            f"{INVOKES} invokes with the S3 server down: "
            f"sampled {sampled_s:.2f} s, unsampled {unsampled_s:.2f} s"
        )
        # Generous (a shared 2-core machine): sampling to a Sonar whose store is down must not slow invokes.
        assert sampled_s <= 1.5 * unsampled_s + 1.0

        async def dropped() -> bool:
            metrics = await sonar.metrics()
            return metrics.get('hydro_sonar_records_dropped_total{reason="memory_limit"}', 0) > 0

        await wait_until(dropped, 30, "Sonar dropping (and counting) the oldest records at its memory bound")

        async def all_acked() -> bool:  # the router's last batch may wait up to its linger time
            router_metrics = parse_metrics(await router.metrics())
            return router_metrics['hydro_router_sonar_records_total{outcome="acked"}'] == INVOKES + 1

        await wait_until(all_acked, 20, "Sonar acknowledging every sampled record")
        metrics = await sonar.metrics()
        # The bound can be passed by the one part being written (what arrives in 0.2 s: a few records).
        assert metrics["hydro_sonar_buffered_bytes"] <= MAX_BUFFERED + 256 * 1024
        accepted, ends = accounted(metrics)
        assert accepted == INVOKES + 1 == ends
        router_metrics = parse_metrics(await router.metrics())
        assert router_metrics['hydro_router_sonar_records_total{outcome="acked"}'] == INVOKES + 1
        assert router_metrics['hydro_router_sonar_records_total{outcome="dropped"}'] == 0

        async def write_failed() -> bool:
            return (await sonar.metrics())["hydro_sonar_write_failures_total"] > 0

        # (aiobotocore's own retries take about 10 s before a write fails to Sonar, which then backs off)
        await wait_until(write_failed, 40, "a failed write to the stopped S3 server")
        assert (await sonar.health())["object_store_failing"] is True
        s3_server.server.start()

        async def nothing_held() -> bool:
            return (await sonar.metrics())["hydro_sonar_buffered_records"] == 0

        await wait_until(nothing_held, 60, "Sonar writing what it held once the S3 server is back")
        metrics = await sonar.metrics()
        accepted, ends = accounted(metrics)
        assert accepted == ends
        dropped_records = metrics['hydro_sonar_records_dropped_total{reason="memory_limit"}']
        written_records = metrics["hydro_sonar_records_written_total"]
        assert written_records + dropped_records == INVOKES + 1
    finally:
        assert await sonar.stop(signal.SIGTERM) == 0, sonar.log_text()

    table = pa.concat_tables(s3_parts(s3_server, "outage/samples/double/1/").values())
    ids = table.column("hydro_request_id").to_pylist()
    assert len(ids) == written_records * ITEMS
    assert not any(i.startswith("off-") for i in ids)  # sampling_rate 0 sends nothing
    kept = {int(i.removeprefix("on-")) for i in set(ids) if i.startswith("on-")}
    lost = set(range(INVOKES)) - kept
    assert lost, "some records were dropped"
    # The oldest go first: the newest are all kept (the part being written when the bound was reached
    # is the one exception, so some old records may be kept too).
    assert set(range(INVOKES - 5, INVOKES)) <= kept
    assert max(lost) < INVOKES - 5

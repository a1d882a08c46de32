"""Sonar stopped with SIGTERM in the middle of a stream loses nothing it had acknowledged.

A client (doing what the router's sampler does) streams batches as fast as Sonar acknowledges them and
remembers which records each ack covered; Sonar is sent SIGTERM mid-stream. Every acknowledged record
must then be in the object store, exactly once, on the local store and on the S3 server alike.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import grpc
import numpy as np
import pyarrow as pa
import pytest

from protos.hydro.v1 import sonar_pb2, sonar_pb2_grpc
from servicekit.grpc_security import ServiceLink
from tests.router.standins import SERVICE_TOKEN, CatalogStandIn, application, snapshot, version
from tests.sonar.conftest import S3Server
from tests.sonar.harness import local_parts, s3_parts, start_sonar
from wire.oip_grpc import encode_infer_request, encode_infer_response

X = [{"name": "x", "datatype": "FP64", "shape": [-1]}]
Y = [{"name": "y", "datatype": "FP64", "shape": [-1]}]
ITEMS = 3
BATCH = 20


def record(request_id: str, n: int) -> sonar_pb2.ExecutionRecord:
    x = np.arange(ITEMS, dtype=np.float64) + n
    return sonar_pb2.ExecutionRecord(
        request_id=request_id,
        application="app",
        model="m",
        version=1,
        time_unix_ms=1_790_000_000_000 + n,
        latency_ms=0.5,
        status="OK",
        request=encode_infer_request("m", {"x": x}, request_id=request_id),
        response=encode_infer_response("m", {"y": 2 * x}, request_id=request_id),
    )


@pytest.mark.parametrize("store", ["file", "s3"])
async def test_sigterm_mid_stream_loses_nothing_acknowledged(
    tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    catalog = CatalogStandIn(snapshot(1, [application("app", [("m:1", 100)])], [version("m", 1, X, Y)]))
    await catalog.start()
    s3: S3Server | None = request.getfixturevalue("s3_server") if store == "s3" else None
    url = f"s3://{s3.bucket}/stop" if s3 else (tmp_path / "objects").as_uri()
    # Parts of 600 rows are written while the stream runs; the rest only by the graceful stop.
    sonar = await start_sonar(
        tmp_path,
        catalog_address=catalog.address,
        object_store_url=url,
        s3_endpoint_url=s3.endpoint if s3 else None,
        sonar_flush_rows=600,
        sonar_flush_age_s=3600,
    )
    sent: dict[int, list[str]] = {}
    acked: list[str] = []
    stopping = asyncio.Event()
    try:
        async with ServiceLink(SERVICE_TOKEN).channel(sonar.address) as channel:
            call = sonar_pb2_grpc.SonarStub(channel).Ingest()  # type: ignore[no-untyped-call]

            async def write() -> None:
                seq = 0
                while True:
                    seq += 1
                    ids = [f"r{seq}-{i}" for i in range(BATCH)]
                    sent[seq] = ids
                    await call.write(sonar_pb2.RecordBatch(seq=seq, records=[record(r, seq) for r in ids]))
                    await asyncio.sleep(0.002)

            async def read() -> None:
                async for ack in call:
                    assert (ack.accepted, ack.rejected) == (BATCH, 0)
                    acked.extend(sent[ack.seq])
                    if len(acked) >= 1000:
                        stopping.set()

            writer = asyncio.create_task(write())
            reader = asyncio.create_task(read())
            await asyncio.wait_for(stopping.wait(), 60)
            stopper = asyncio.create_task(sonar.stop(signal.SIGTERM))
            # The stream goes on until Sonar ends it; then both sides fail.
            done, _ = await asyncio.wait({writer, reader}, timeout=60, return_when=asyncio.ALL_COMPLETED)
            assert len(done) == 2, "the stream did not end after SIGTERM"
            for task in done:
                error = task.exception()  # the RPC failed or had finished: what a writer sees
                assert isinstance(error, grpc.aio.AioRpcError | asyncio.InvalidStateError | None), error
            assert await stopper == 0, sonar.log_text()
    finally:
        await catalog.stop()
        if sonar.process.poll() is None:
            await sonar.stop(signal.SIGKILL)

    parts = s3_parts(s3, "stop/samples/m/1/") if s3 else local_parts(tmp_path / "objects", "samples/m/1/")
    assert len(parts) >= 2, "expected parts written by size during the stream and by the stop"
    table = pa.concat_tables(parts.values())
    ids = table.column("hydro_request_id").to_pylist()
    counts: dict[str, int] = {}
    for request_id in ids:
        counts[request_id] = counts.get(request_id, 0) + 1
    everything_sent = {r for batch in sent.values() for r in batch}
    assert set(counts) <= everything_sent
    missing = [r for r in acked if r not in counts]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged records are missing, e.g. {missing[:3]}"
    assert set(counts.values()) == {ITEMS}, "a record's rows were written twice or partly"
    print(f"sent {len(everything_sent)}, acknowledged {len(acked)}, written {len(counts)} records")

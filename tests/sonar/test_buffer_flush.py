"""Before a drift job reads a window, the sample buffer writes what it holds of that version's hours at
once (its own flush age is a minute away) and answers only when it is in the object store; other versions
and other hours stay buffered. A store that fails meanwhile makes the flush say what is still unwritten."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from protos.hydro.v1 import sonar_pb2
from servicekit.object_store import ObjectStoreError, open_object_store
from sonar.buffer import SampleBuffer
from sonar.metrics import Metrics
from sonar.rows import SampleSchema
from wire.oip_grpc import encode_infer_request, encode_infer_response
from wire.signature import Signature

SIGNATURE = Signature.from_dict(
    {
        "inputs": [{"name": "amount", "datatype": "FP64", "shape": [-1]}],
        "outputs": [{"name": "score", "datatype": "FP64", "shape": [-1]}],
    }
)
HOUR_MS = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00Z


def record(model: str, version: int, time_ms: int, rows: int) -> sonar_pb2.ExecutionRecord:
    message = sonar_pb2.ExecutionRecord(
        request_id=f"r{time_ms}",
        application="app",
        model=model,
        version=version,
        time_unix_ms=time_ms,
        latency_ms=1.0,
        status="OK",
        request=encode_infer_request(model, {"amount": np.arange(rows, dtype=np.float64)}),
    )
    message.response.CopyFrom(encode_infer_response(model, {"score": np.zeros(rows)}))
    return message


def buffer_for(store: object) -> SampleBuffer:
    return SampleBuffer(
        store,  # type: ignore[arg-type]
        Metrics(),
        flush_rows=100_000,
        flush_bytes=1 << 30,
        flush_age_s=60.0,
        max_bytes=1 << 30,
        retry_initial_s=0.05,
        retry_max_s=0.1,
    )


def rows_under(root: Path, prefix: str) -> int:
    return sum(pq.read_table(path).num_rows for path in (root / prefix).rglob("*.parquet"))


async def test_flush_writes_the_window_of_one_version_now(tmp_path: Path) -> None:

    store = open_object_store(f"file://{tmp_path}")
    buffer = buffer_for(store)
    fraud = SampleSchema("fraud", 1, SIGNATURE)
    other = SampleSchema("fraud", 2, SIGNATURE)
    for i in range(5):
        buffer.add(fraud, fraud.rows(record("fraud", 1, T0 + 1000 * i, rows=3)))  # hour 0: 15 rows
    buffer.add(fraud, fraud.rows(record("fraud", 1, T0 + 2 * HOUR_MS, rows=4)))  # hour 2, outside
    buffer.add(other, other.rows(record("fraud", 2, T0 + 1000, rows=2)))  # another version
    writer = asyncio.create_task(buffer.run())
    try:
        await asyncio.sleep(0.3)
        assert rows_under(tmp_path, "samples") == 0, "a minute's flush age: nothing written yet"

        unwritten = await buffer.flush("fraud", 1, T0, T0 + HOUR_MS, timeout_s=10)

        assert unwritten == 0
        assert rows_under(tmp_path, "samples/fraud/1") == 15, "every row of the window, at once"
        assert rows_under(tmp_path, "samples/fraud/2") == 0 and buffer.records == 2, "the rest waits"
        assert await buffer.flush("fraud", 1, T0, T0 + HOUR_MS, timeout_s=10) == 0, "nothing left"
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        await store.close()


class FailingStore:
    """An object store that refuses every write (what cannot be staged otherwise: a store down)."""

    async def put(self, key: str, data: bytes) -> None:
        raise ObjectStoreError("the store is down")


async def test_a_flush_the_store_refuses_says_what_is_unwritten() -> None:

    buffer = buffer_for(FailingStore())
    fraud = SampleSchema("fraud", 1, SIGNATURE)
    buffer.add(fraud, fraud.rows(record("fraud", 1, T0 + 10, rows=3)))
    writer = asyncio.create_task(buffer.run())
    try:
        assert await buffer.flush("fraud", 1, T0, T0 + HOUR_MS, timeout_s=0.5) == 1
        assert buffer.records == 1, "still held, not lost"
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)

"""Sampling live traffic to Sonar: fire-and-forget, never slowing or failing an invoke.

Per invoke, with probability = the application's `sampling_rate`, every model call it makes (each
stage, and each shadow call, marked `shadow`) becomes one `hydro.v1.ExecutionRecord`. On the hot path a
record is only a few references to the protobufs the call already built, appended to a bounded buffer
(`router_sonar_buffer_records` records, `router_sonar_buffer_bytes` bytes); a full buffer drops the new
record. A background task drains the buffer into batches over one long-lived `Sonar/Ingest` stream,
with at most `router_sonar_max_unacked_batches` batches awaiting their ack; it reconnects with backoff
while Sonar is down (records wait in the buffer until it fills). A batch waits up to
`router_sonar_batch_linger_s` for more records unless it is already full: a stream message (and its
ack) costs the router and Sonar far more than a record in it, so sending each record as it comes would
make sampling expensive.

Every sampled record is counted once in `hydro_router_sonar_records_total{outcome="sampled"}` and ends
up `acked` (Sonar has it), `rejected` (Sonar refused it), or `dropped` (with its reason in
`hydro_router_sonar_records_dropped_total{reason}`: buffer_full, too_large, unacknowledged — sent on a
stream that broke before Sonar acknowledged it — or shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

import grpc
from prometheus_client import CollectorRegistry

from protos.hydro.v1 import sonar_pb2, sonar_pb2_grpc
from protos.inference import grpc_service_pb2 as pb
from router.routing import Route, Version
from router.sampler_metrics import SamplerCollector
from servicekit.grpc_security import ServiceLink
from servicekit.stream_follower import RECONNECT_CHANNEL_OPTIONS

log = logging.getLogger(__name__)

OUTCOMES = ("sampled", "sent", "acked", "rejected", "dropped")
DROP_REASONS = ("buffer_full", "too_large", "unacknowledged", "shutdown")


@dataclass(slots=True)
class _Pending:
    """A record as the hot path leaves it: references, no copies."""

    request_id: str
    application: str
    stage: int
    model: str
    version: int
    shadow: bool
    time_unix_ms: int
    latency_ms: float
    status: str
    error: str
    request: pb.ModelInferRequest
    response: pb.ModelInferResponse | None
    size: int


@dataclass(slots=True)
class Sample:
    """One invoke drawn for sampling: what the records of its model calls share."""

    sampler: Sampler
    application: str
    request_id: str
    time_unix_ms: int
    shadow: bool = False

    def as_shadow(self) -> Sample:
        return replace(self, shadow=True)

    def record(
        self,
        stage: int,
        version: Version,
        request: pb.ModelInferRequest,
        response: pb.ModelInferResponse | None,
        started: float,
        status: str = "OK",
        error: str = "",
    ) -> None:
        """One model call's outcome (`started`: its `time.perf_counter()` at the call). Never raises."""
        self.sampler.enqueue(self, stage, version, request, response, started, status, error)


class Sampler:
    def __init__(
        self,
        address: str,
        *,
        link: ServiceLink,
        registry: CollectorRegistry,
        buffer_records: int = 10_000,
        buffer_bytes: int = 64 * 1024 * 1024,
        batch_records: int = 500,
        batch_bytes: int = 4 * 1024 * 1024,
        max_record_bytes: int = 32 * 1024 * 1024,
        max_unacked_batches: int = 8,
        batch_linger_s: float = 0.1,
        backoff_max_s: float = 2.0,
        random: Callable[[], float] = random.random,
    ) -> None:
        self.address = address
        self.link = link
        self.buffer_records = buffer_records
        self.buffer_bytes = buffer_bytes
        self.batch_records = batch_records
        self.batch_bytes = batch_bytes
        self.max_record_bytes = max_record_bytes
        self.max_unacked_batches = max_unacked_batches
        self.batch_linger_s = batch_linger_s
        self.backoff_max_s = backoff_max_s
        self._random = random
        self._queue: deque[_Pending] = deque()
        self._bytes = 0
        self._unacked: dict[int, int] = {}
        """Records per batch sent on the current stream and not yet acknowledged, by seq."""
        self._seq = 0
        self._wakeup = asyncio.Event()
        self.streaming = False
        """A stream to Sonar is open (over a ready channel), whether or not a batch went out on it yet."""
        self._lingering = False
        """The sender waits for a batch to fill: wake it only when it has."""
        self.connected = False
        self.counts = dict.fromkeys(OUTCOMES, 0)
        """Records by outcome (plain ints: the hot path must not take a metrics lock per record)."""
        self.drops = dict.fromkeys(DROP_REASONS, 0)
        registry.register(SamplerCollector(self))

    @property
    def buffered(self) -> int:
        """Records waiting to be sent."""
        return len(self._queue)

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    # -- the hot path ---------------------------------------------------------------------------

    def start(self, route: Route, request_id: str) -> Sample | None:
        """Draw whether this invoke of `route` is sampled; None when it is not."""
        rate = route.sampling_rate
        if not self.address or rate <= 0 or (rate < 1 and self._random() >= rate):
            return None
        return Sample(self, route.name, request_id, time.time_ns() // 1_000_000)

    def enqueue(
        self,
        sample: Sample,
        stage: int,
        version: Version,
        request: pb.ModelInferRequest,
        response: pb.ModelInferResponse | None,
        started: float,
        status: str,
        error: str,
    ) -> None:
        latency_ms = (time.perf_counter() - started) * 1000
        self.counts["sampled"] += 1
        size = request.ByteSize() + (response.ByteSize() if response is not None else 0)
        if size > self.max_record_bytes:
            self._drop("too_large")
            return
        if len(self._queue) >= self.buffer_records or self._bytes + size > self.buffer_bytes:
            self._drop("buffer_full")
            return
        self._queue.append(
            _Pending(
                sample.request_id,
                sample.application,
                stage,
                version.model,
                int(version.number),
                sample.shadow,
                sample.time_unix_ms,
                latency_ms,
                status,
                error,
                request,
                response,
                size,
            )
        )
        self._bytes += size
        if self._wakeup.is_set():
            return
        if not self._lingering or len(self._queue) >= self.batch_records or self._bytes >= self.batch_bytes:
            self._wakeup.set()

    def _drop(self, reason: str, count: int = 1) -> None:
        if count:
            self.counts["dropped"] += count
            self.drops[reason] += count

    # -- the background sender ------------------------------------------------------------------

    async def run(self) -> None:
        """Stream batches to Sonar until cancelled, reconnecting with a capped, jittered backoff."""
        options = [*RECONNECT_CHANNEL_OPTIONS, ("grpc.max_send_message_length", 2 * self.max_record_bytes)]
        async with self.link.channel(self.address, options=options) as channel:
            stub = sonar_pb2_grpc.SonarStub(channel)  # type: ignore[no-untyped-call]
            backoff = 0.05
            warned = False
            while True:
                await channel.channel_ready()
                try:
                    await self._stream(stub)
                    reason = "the stream ended"
                except grpc.aio.AioRpcError as exc:
                    reason = f"{exc.code().name}: {exc.details()}"
                except (ConnectionError, asyncio.InvalidStateError) as exc:
                    reason = repr(exc)
                except Exception as exc:  # never let sampling take the router down
                    log.exception("streaming to Sonar %s failed", self.address)
                    reason = repr(exc)
                lost = sum(self._unacked.values())
                self._unacked.clear()
                self._drop("unacknowledged", lost)
                if self.connected or not warned:
                    log.warning(
                        "Sonar %s unreachable (%s); %d records sent but not acknowledged were dropped; "
                        "sampled records wait in the buffer (dropped when it is full); reconnecting",
                        self.address,
                        reason,
                        lost,
                    )
                    warned = True
                if self.connected:
                    backoff = 0.05  # it was working: try again soon
                self.connected = False
                await asyncio.sleep(backoff * (0.5 + random.random()))
                backoff = min(self.backoff_max_s, backoff * 2)

    async def _stream(self, stub: sonar_pb2_grpc.SonarStub) -> None:
        call = stub.Ingest()
        self.streaming = True
        reader = asyncio.create_task(self._read_acks(call), name="sonar acks")
        try:
            while await self._batch_ready(reader):
                batch = self._take_batch()
                count = len(batch.records)
                self._unacked[batch.seq] = count
                await call.write(batch)
                self.counts["sent"] += count
                if not self.connected:
                    log.info("streaming sampled records to Sonar %s", self.address)
                self.connected = True
        finally:
            self.streaming = False
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                await reader
            call.cancel()

    async def _batch_ready(self, reader: asyncio.Task[None]) -> bool:
        """Wait for a record to send and room for another unacknowledged batch, then up to
        `batch_linger_s` for the batch to fill; False when the stream has ended (`reader` is done)."""
        while not (self._queue and len(self._unacked) < self.max_unacked_batches):
            if reader.done():
                reader.result()
                return False
            self._wakeup.clear()
            await self._wakeup.wait()
        if (
            self.batch_linger_s > 0
            and len(self._queue) < self.batch_records
            and self._bytes < self.batch_bytes
        ):
            self._wakeup.clear()
            self._lingering = True
            try:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.batch_linger_s):
                        await self._wakeup.wait()
            finally:
                self._lingering = False
        if reader.done():
            reader.result()
            return False
        return True

    async def _read_acks(
        self, call: grpc.aio.StreamStreamCall[sonar_pb2.RecordBatch, sonar_pb2.IngestAck]
    ) -> None:
        try:
            async for ack in call:
                count = self._unacked.pop(ack.seq, 0)
                self.counts["acked"] += ack.accepted
                self.counts["rejected"] += ack.rejected
                self._drop("unacknowledged", max(0, count - ack.accepted - ack.rejected))
        finally:
            self._wakeup.set()

    def _take_batch(self) -> sonar_pb2.RecordBatch:
        """Up to `batch_records` records and (beyond the first) `batch_bytes` bytes, built into protobufs."""
        self._seq += 1
        batch = sonar_pb2.RecordBatch(seq=self._seq)
        size = 0
        while self._queue and len(batch.records) < self.batch_records:
            pending = self._queue[0]
            if batch.records and size + pending.size > self.batch_bytes:
                break
            self._queue.popleft()
            self._bytes -= pending.size
            size += pending.size
            record = batch.records.add(
                request_id=pending.request_id,
                application=pending.application,
                stage=pending.stage,
                model=pending.model,
                version=pending.version,
                shadow=pending.shadow,
                time_unix_ms=pending.time_unix_ms,
                latency_ms=pending.latency_ms,
                status=pending.status,
                error=pending.error,
            )
            record.request.CopyFrom(pending.request)
            if pending.response is not None:
                record.response.CopyFrom(pending.response)
        return batch

    async def drain(self, timeout_s: float) -> None:
        """Give the sender up to `timeout_s` to send and see acknowledged what is buffered (on stop)."""
        self.batch_linger_s = 0.0  # stopping: send what is buffered at once
        self._wakeup.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while self.streaming and (self._queue or self._unacked):
                    await asyncio.sleep(0.02)

    def close(self) -> None:
        """Count what is still buffered or unacknowledged as dropped (after the sender was cancelled)."""
        self._drop("shutdown", len(self._queue) + sum(self._unacked.values()))
        self._queue.clear()
        self._unacked.clear()
        self._bytes = 0

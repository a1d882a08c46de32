"""Accepted records on their way to the object store: buffered per version and hour, written as Parquet.

A partition (one version, one hour) collects records until it holds `flush_rows` rows, `flush_bytes`
bytes, or its oldest record has waited `flush_age_s`; then it is sealed, encoded as one Parquet part and
written. Parts are written oldest first; a failed write is retried with a doubling pause (up to
`retry_max_s`), and meanwhile new records keep arriving and being encoded.

Memory stays under `max_bytes` (buffered records plus encoded parts waiting for the store): beyond it
the oldest data is dropped (waiting parts first, then the oldest buffered records) and counted in
`hydro_sonar_records_dropped_total{reason="memory_limit"}`. A part being encoded or written at that
moment is not dropped, so the bound can be passed by at most one part. Nothing is lost silently:
every accepted record ends up written or counted as dropped.

`flush(model, version, start_ms, end_ms)` is what a drift job calls before it reads a window: it seals
the version's open partitions of the hours the window touches and waits until they, and every part of
those hours already on its way, are written (or dropped), so a report counts every record Sonar
acknowledged before the job started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field

from servicekit.object_store import ObjectStore, ObjectStoreError
from sonar.metrics import Metrics
from sonar.parquet_writer import encode, hour_of, part_key
from sonar.rows import SampleSchema
from sonar.sample_layout import RecordRows

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Partition:
    """Records of one version and one hour, not yet encoded."""

    schema: SampleSchema
    hour: int
    started: float
    """Monotonic time its first record arrived (for the age flush)."""
    records: deque[RecordRows] = field(default_factory=deque)
    rows: int = 0
    nbytes: int = 0
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once its records are written or dropped (what `SampleBuffer.flush` waits for)."""

    def add(self, record: RecordRows) -> None:
        self.records.append(record)
        self.rows += record.count
        self.nbytes += record.nbytes

    def pop_oldest(self) -> RecordRows:
        record = self.records.popleft()
        self.rows -= record.count
        self.nbytes -= record.nbytes
        return record


@dataclass(eq=False)
class _Part:
    """An encoded Parquet part waiting for the object store."""

    key: str
    data: bytes
    records: int
    rows: int
    settled: asyncio.Event

    @property
    def nbytes(self) -> int:
        return len(self.data)


class SampleBuffer:
    def __init__(
        self,
        store: ObjectStore,
        metrics: Metrics,
        *,
        flush_rows: int,
        flush_bytes: int,
        flush_age_s: float,
        max_bytes: int,
        retry_initial_s: float,
        retry_max_s: float,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.flush_rows = flush_rows
        self.flush_bytes = flush_bytes
        self.flush_age_s = flush_age_s
        self.max_bytes = max_bytes
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self._open: dict[tuple[str, int, int], _Partition] = {}
        self._sealed: deque[_Partition] = deque()
        self._parts: deque[_Part] = deque()
        self._unsettled: dict[int, tuple[tuple[str, int, int], asyncio.Event]] = {}
        """Sealed partitions not yet written or dropped, by id: their (model, version, hour) and event."""
        self.nbytes = 0
        """Bytes held: buffered records, parts waiting, and the partition or part being encoded or written."""
        self.records = 0
        """Accepted records held and not yet written."""
        self._wake = asyncio.Event()
        self._retry_s = retry_initial_s
        self.store_failing = False
        # Read at each scrape (setting them on every record cost more than the rest of `add`).
        metrics.buffered_bytes.set_function(lambda: self.nbytes)
        metrics.buffered_records.set_function(lambda: self.records)
        metrics.pending_parts.set_function(lambda: len(self._parts))

    # -- taking records in ----------------------------------------------------------------------

    def add(self, schema: SampleSchema, record: RecordRows) -> None:
        """Buffer one accepted record (never waits); seal its partition when it is full."""
        hour = hour_of(record.time_unix_ms)
        key = (schema.model, schema.version, hour)
        partition = self._open.get(key)
        if partition is None:
            partition = self._open[key] = _Partition(schema, hour, time.monotonic())
        partition.add(record)
        self.nbytes += record.nbytes
        self.records += 1
        if partition.rows >= self.flush_rows or partition.nbytes >= self.flush_bytes:
            self._seal(key)
        self._bound()

    def _seal(self, key: tuple[str, int, int]) -> None:
        partition = self._open.pop(key)
        if partition.records:
            self._sealed.append(partition)
            self._unsettled[id(partition.settled)] = (key, partition.settled)
            self._wake.set()
        else:
            partition.settled.set()

    def _settle(self, settled: asyncio.Event) -> None:
        self._unsettled.pop(id(settled), None)
        settled.set()

    async def flush(self, model: str, version: int, start_ms: int, end_ms: int, timeout_s: float) -> int:
        """Write what is held of `model:version` in the hours of [start_ms, end_ms) now, and wait (up to
        `timeout_s`) until it is written or dropped; return how many of those partitions are still unwritten
        (0: every record acknowledged before the call is in the object store or counted as dropped)."""
        first, last = hour_of(start_ms), hour_of(max(start_ms, end_ms - 1))
        for key in [k for k in self._open if k[:2] == (model, version) and first <= k[2] <= last]:
            self._seal(key)
        waiting = [
            event
            for (m, v, hour), event in self._unsettled.values()
            if (m, v) == (model, version) and first <= hour <= last
        ]
        if not waiting:
            return 0
        self._wake.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                for event in waiting:
                    await event.wait()
        return sum(not event.is_set() for event in waiting)

    def _bound(self) -> None:
        """Drop the oldest data until what is held fits `max_bytes` (see the module docstring)."""
        excess = self.nbytes - self.max_bytes
        while excess > 0:
            if self._parts:
                part = self._parts.popleft()
                excess -= part.nbytes
                self._dropped("memory_limit", part.records, part.rows, part.nbytes)
                self._settle(part.settled)
                log.warning(
                    "memory bound reached: dropped part %s (%d rows) before it was written",
                    part.key,
                    part.rows,
                )
                continue
            partition = self._sealed[0] if self._sealed else self._oldest_open()
            if partition is None:
                return  # only the part being encoded or written is left
            record = partition.pop_oldest()
            excess -= record.nbytes
            self._dropped("memory_limit", 1, record.count, record.nbytes)
            if not partition.records:
                self._forget(partition)

    def _oldest_open(self) -> _Partition | None:
        return min(self._open.values(), key=lambda p: p.started, default=None)

    def _forget(self, partition: _Partition) -> None:
        self._settle(partition.settled)
        if self._sealed and self._sealed[0] is partition:
            self._sealed.popleft()
            return
        for key, candidate in list(self._open.items()):
            if candidate is partition:
                del self._open[key]

    def _dropped(self, reason: str, records: int, rows: int, nbytes: int) -> None:
        self.nbytes -= nbytes
        self.records -= records
        self.metrics.dropped_records.labels(reason).inc(records)
        self.metrics.dropped_rows.labels(reason).inc(rows)

    # -- writing out ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Seal, encode and write until cancelled (`close` writes what is left)."""
        tick = min(1.0, self.flush_age_s / 4)
        while True:
            self._seal_aged(time.monotonic())
            await self._encode_sealed()
            if await self._write_parts():
                pause = tick
            else:
                pause = self._retry_s
                self._retry_s = min(self.retry_max_s, self._retry_s * 2)
            self._wake.clear()
            if self.store_failing:
                await asyncio.sleep(pause)  # new data must not cut a backoff short
            else:
                try:
                    async with asyncio.timeout(pause):
                        await self._wake.wait()
                except TimeoutError:
                    pass

    async def close(self, timeout_s: float) -> None:
        """Write everything held, retrying for up to `timeout_s`; count what is still unwritten as dropped."""
        for key in list(self._open):
            self._seal(key)
        deadline = time.monotonic() + timeout_s
        await self._encode_sealed()
        retry = self.retry_initial_s
        while self._parts and not await self._write_parts():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            await asyncio.sleep(min(retry, left))
            retry = min(self.retry_max_s, retry * 2)
        for part in self._parts:
            log.error(
                "stopping: part %s (%d rows) could not be written; counted as dropped", part.key, part.rows
            )
            self._dropped("shutdown", part.records, part.rows, part.nbytes)
            self._settle(part.settled)
        self._parts.clear()

    def _seal_aged(self, now: float) -> None:
        for key, partition in list(self._open.items()):
            if now - partition.started >= self.flush_age_s:
                self._seal(key)

    async def _encode_sealed(self) -> None:
        while self._sealed:
            partition = self._sealed.popleft()
            records = list(partition.records)
            schema = partition.schema
            first = min(record.time_unix_ms for record in records)
            try:
                data = await asyncio.to_thread(_encode, schema, records)
            except asyncio.CancelledError:
                self._sealed.appendleft(partition)  # stopping: `close` encodes it again
                raise
            except Exception:
                log.exception(
                    "records of %s:%d cannot be encoded as Parquet; dropped", schema.model, schema.version
                )
                self._dropped("encode_error", len(records), partition.rows, partition.nbytes)
                self._settle(partition.settled)
                continue
            key = part_key(schema.model, schema.version, first)
            self._parts.append(_Part(key, data, len(records), partition.rows, partition.settled))
            self.nbytes += len(data) - partition.nbytes
            self._bound()

    async def _write_parts(self) -> bool:
        """Write the waiting parts, oldest first; False when the store failed (the part stays first)."""
        while self._parts:
            part = self._parts.popleft()
            started = time.perf_counter()
            try:
                await self.store.put(part.key, part.data)
            except asyncio.CancelledError:
                self._parts.appendleft(part)  # stopping: `close` writes it (again: same key, same bytes)
                raise
            except Exception as exc:
                self._parts.appendleft(part)
                self.metrics.write_failures.inc()
                if not isinstance(exc, ObjectStoreError):
                    log.exception("writing %s failed unexpectedly; retrying with backoff", part.key)
                elif not self.store_failing:
                    log.warning(
                        "writing samples failed (%s); retrying with backoff, holding them in memory", exc
                    )
                self.store_failing = True
                return False
            self.nbytes -= part.nbytes
            self.records -= part.records
            self._settle(part.settled)
            if self.store_failing:
                log.info("the object store answers again; writing the samples held meanwhile")
            self.store_failing = False
            self._retry_s = self.retry_initial_s
            self.metrics.write_duration.observe(time.perf_counter() - started)
            self.metrics.parts.inc()
            self.metrics.written_records.inc(part.records)
            self.metrics.written_rows.inc(part.rows)
            log.debug("wrote %s (%d rows)", part.key, part.rows)
        return True


def _encode(schema: SampleSchema, records: list[RecordRows]) -> bytes:
    return encode(schema.build_table(records))

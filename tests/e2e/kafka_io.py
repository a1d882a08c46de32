"""A test's own Kafka client, as a user's producer and consumer would be: messages in, answers read back.

`KafkaIO` runs aiokafka on an event loop of its own in a thread, so a synchronous story (and the
benchmark) can produce to a source topic while it reads the destination and error topics in the
background. Topics are read without a consumer group, every partition from its beginning, so what the
test sees is everything that was written, duplicates included.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

T = TypeVar("T")


@dataclass(frozen=True)
class Outgoing:
    """A message to produce; `partition` None lets the producer pick by key."""

    value: bytes | None
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()
    partition: int | None = None


@dataclass(frozen=True)
class Sent:
    """Where the broker stored a produced message, and when the producer handed it over."""

    partition: int
    offset: int
    at: float
    """`time.perf_counter()` when it was given to the producer."""


@dataclass(frozen=True)
class Received:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    at: float
    """`time.perf_counter()` when this client read it."""

    def header(self, name: str) -> str | None:
        """The last value of header `name` (case-insensitive), decoded; None when absent."""
        found = None
        for key, value in self.headers:
            if key.lower() == name.lower():
                found = value.decode("utf-8", errors="replace")
        return found


@dataclass
class _Topic:
    records: list[Received] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)


class KafkaIO:
    """Produce to and read from the broker at `bootstrap_servers` (see the module docstring)."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kafka-io", daemon=True)
        self._thread.start()
        self._producer: AIOKafkaProducer | None = None
        self._readers: dict[str, _Topic] = {}
        self._reader_tasks: set[asyncio.Task[None]] = set()
        self.on_record: Callable[[Received], None] | None = None
        """Called on the client's thread for every record read (the benchmark's clock)."""

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    # -- producing --------------------------------------------------------------------------------

    async def _start_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap_servers, acks="all", linger_ms=2)
            await producer.start()
            self._producer = producer
        return self._producer

    def produce(self, topic: str, messages: list[Outgoing]) -> list[Sent]:
        """Produce `messages` in their order (each partition keeps it); where the broker stored each."""
        return self._run(self._produce(topic, messages))

    async def _produce(self, topic: str, messages: list[Outgoing]) -> list[Sent]:
        producer = await self._start_producer()
        pending = []
        for message in messages:
            at = time.perf_counter()
            future = await producer.send(
                topic,
                message.value,
                key=message.key,
                headers=list(message.headers),
                partition=message.partition,
            )
            pending.append((at, future))
        sent = []
        for at, future in pending:
            metadata = await future
            sent.append(Sent(metadata.partition, metadata.offset, at))
        return sent

    def produce_soon(self, topic: str, message: Outgoing) -> float:
        """Hand one message to the producer without waiting for the broker; the time it was handed."""
        return self._run(self._produce_soon(topic, message))

    async def _produce_soon(self, topic: str, message: Outgoing) -> float:
        producer = await self._start_producer()
        at = time.perf_counter()
        await producer.send(
            topic, message.value, key=message.key, headers=list(message.headers), partition=message.partition
        )
        return at

    # -- reading ----------------------------------------------------------------------------------

    def read(self, *topics: str) -> None:
        """Start reading `topics` from their beginning in the background."""
        for topic in topics:
            if topic in self._readers:
                continue
            state = _Topic()
            ready: concurrent.futures.Future[None] = concurrent.futures.Future()
            asyncio.run_coroutine_threadsafe(self._read(topic, state, ready), self._loop)  # until close()
            self._readers[topic] = state
            ready.result(timeout=60)

    async def _read(self, topic: str, state: _Topic, ready: concurrent.futures.Future[None]) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._reader_tasks.add(task)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=20,
        )
        try:
            await consumer.start()
            partitions = await _partitions(consumer, topic)
            consumer.assign([TopicPartition(topic, p) for p in partitions])
            await consumer.seek_to_beginning()
        except BaseException as exc:
            await consumer.stop()
            ready.set_exception(exc)
            raise
        ready.set_result(None)
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=100, max_records=1000)
                now = time.perf_counter()
                received = [
                    Received(
                        topic,
                        record.partition,
                        record.offset,
                        record.key,
                        record.value,
                        tuple(record.headers or ()),
                        now,
                    )
                    for records in batches.values()
                    for record in records
                ]
                if not received:
                    continue
                if self.on_record is not None:
                    for record in received:
                        self.on_record(record)
                with state.changed:
                    state.records.extend(received)
                    state.changed.notify_all()
        finally:
            await consumer.stop()

    def records(self, topic: str) -> list[Received]:
        """Everything read of `topic` so far, in the order each partition holds it."""
        state = self._readers[topic]
        with state.changed:
            return list(state.records)

    def wait_for(
        self, topic: str, count: int, timeout: float, why: Callable[[], str] = str
    ) -> list[Received]:
        """Wait until `count` records of `topic` were read; fail naming how many came (and `why()`)."""
        state = self._readers[topic]
        deadline = time.monotonic() + timeout
        with state.changed:
            while len(state.records) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{len(state.records)} of {count} records on {topic} within {timeout:.0f} s\n{why()}"
                    )
                state.changed.wait(min(left, 0.5))
            return list(state.records)

    def close(self) -> None:
        async def stop() -> None:
            # the readers first (each stops its consumer on the way out), then the producer: cancelling
            # aiokafka's own tasks before its clients stop would leave their connections open
            readers = list(self._reader_tasks)
            for task in readers:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
            if self._producer is not None:
                await self._producer.stop()

        try:
            self._run(stop(), timeout=30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[int]:
    """The topic's partitions, once the client's metadata knows them (a new topic takes a moment)."""
    for _ in range(100):
        found = consumer.partitions_for_topic(topic)
        if found:
            return sorted(found)
        await consumer.topics()  # refreshes the client's metadata
        await asyncio.sleep(0.05)
    raise AssertionError(f"the broker knows no partitions of topic {topic!r}")

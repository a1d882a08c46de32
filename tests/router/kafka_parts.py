"""What the Kafka edge's stories share: applications with a binding, topics, and a producer and a reader
of the real broker (`tests.kafka_broker`)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from protos.hydro.v1 import catalog_pb2
from tests.kafka_broker import KafkaBroker
from tests.router.harness import routing_snapshot

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class Topics:
    source: str
    destination: str
    error: str

    def binding(self, group: str) -> catalog_pb2.KafkaBinding:
        return catalog_pb2.KafkaBinding(
            source_topic=self.source,
            destination_topic=self.destination,
            error_topic=self.error,
            consumer_group=group,
        )


async def make_topics(broker: KafkaBroker, name: str, partitions: int) -> Topics:
    """Source, destination and error topics with `partitions` partitions each."""

    def create(kind: str) -> str:
        return broker.topic(f"{name}-{kind}", partitions)

    source, destination, error = await asyncio.gather(
        *(asyncio.to_thread(create, kind) for kind in ("in", "out", "err"))
    )
    return Topics(source, destination, error)


def kafka_snapshot(
    bindings: dict[str, catalog_pb2.KafkaBinding], revision: int = 1, **knobs: Any
) -> catalog_pb2.Snapshot:
    """The router tests' applications, some of them with a Kafka binding."""
    snapshot = routing_snapshot(revision, **knobs)
    for app in snapshot.applications:
        if app.name in bindings:
            app.kafka.CopyFrom(bindings[app.name])
    return snapshot


@dataclass(frozen=True)
class Sent:
    """One message as produced, and where the broker stored it."""

    index: int
    key: bytes
    value: bytes | None
    headers: Headers
    partition: int
    offset: int


async def produce(
    broker: KafkaBroker, topic: str, messages: Sequence[tuple[bytes, bytes | None, Headers, int]]
) -> list[Sent]:
    """Produce (key, value, headers, partition) in order; what the broker stored, in the same order."""
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value, key=key, headers=headers, partition=partition)
            for key, value, headers, partition in messages
        ]
        stored = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return [
        Sent(i, key, value, headers, meta.partition, meta.offset)
        for i, ((key, value, headers, _), meta) in enumerate(zip(messages, stored, strict=True))
    ]


@dataclass(frozen=True)
class Received:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]

    def json(self) -> Any:
        assert self.value is not None
        return orjson.loads(self.value)


class Reader:
    """Reads a topic from its beginning, outside any group, keeping everything it read."""

    def __init__(self, broker: KafkaBroker, topic: str) -> None:
        self.topic = topic
        self.records: list[Received] = []
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=broker.bootstrap_servers, enable_auto_commit=False
        )

    async def __aenter__(self) -> Reader:
        await self._consumer.start()
        partitions = [TopicPartition(self.topic, p) for p in sorted(await self._partitions())]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_beginning(*partitions)
        return self

    async def _partitions(self) -> set[int]:
        for _ in range(50):
            found = self._consumer.partitions_for_topic(self.topic)
            if found:
                return set(found)
            await self._consumer._client.force_metadata_update()  # noqa: SLF001 - a fresh topic
            await asyncio.sleep(0.1)
        raise AssertionError(f"topic {self.topic!r} has no partitions")

    async def __aexit__(self, *exc_info: object) -> None:
        await self._consumer.stop()

    async def until(self, count: int, timeout: float) -> list[Received]:
        """Read until `count` records in all, or fail after `timeout` seconds saying how many came."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.records) < count and loop.time() < deadline:
            batches = await self._consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for r in records:
                    self.records.append(
                        Received(r.partition, r.offset, r.key, r.value, {k: v for k, v in r.headers or ()})
                    )
        assert len(self.records) >= count, (
            f"{len(self.records)} of {count} records on {self.topic} within {timeout} s"
        )
        return self.records

    async def settle(self, seconds: float) -> list[Received]:
        """Keep reading for `seconds` more (to see anything that should not come)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            batches = await self._consumer.getmany(timeout_ms=100)
            for records in batches.values():
                for r in records:
                    self.records.append(
                        Received(r.partition, r.offset, r.key, r.value, {k: v for k, v in r.headers or ()})
                    )
        return self.records


def metric(text: str, name: str, **labels: str) -> float:
    """The value of the sample `name` with exactly `labels` in the exposition `text` (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0

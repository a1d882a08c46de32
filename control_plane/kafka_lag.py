"""The consumer lag of applications' Kafka endpoints, read from the brokers when the API shows them.

Lag of a partition = its end offset minus where the consumer group resumes: the group's committed offset,
or the partition's first offset when the group has committed none there yet (the router's Kafka edge
starts from the earliest message: nothing is skipped). Offsets below the first one (deleted by retention)
count from the first one.

A lookup opens one groupless consumer (partitions, first and end offsets) and one admin client (committed
offsets) for all the bindings an answer shows, and is bounded by `timeout_s` whatever the brokers do:
an unreachable or slow cluster gives each binding a reason instead of a lag, never a failed call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

logger = logging.getLogger(__name__)

NOT_CONFIGURED = "the control plane has no Kafka brokers to ask (HYDRO_KAFKA_BOOTSTRAP_SERVERS is not set)"
CLOSE_TIMEOUT_S = 1.0

Source = tuple[str, str]
"""(source topic, consumer group): what a lag is of."""


@dataclass(frozen=True)
class PartitionLag:
    partition: int
    committed: int | None
    """The group's committed offset; None when it has committed none on this partition."""
    end: int
    lag: int


@dataclass(frozen=True)
class Lag:
    total: int
    partitions: tuple[PartitionLag, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "partitions": [
                {"partition": p.partition, "committed": p.committed, "end": p.end, "lag": p.lag}
                for p in self.partitions
            ],
        }


Lags = Mapping[Source, Lag | str]
"""Per source, its lag or the reason it is unknown."""


class LagReader:
    """Reads lags from the brokers `options` (aiokafka client options) reach; None: no brokers set."""

    def __init__(self, options: Mapping[str, Any] | None, timeout_s: float) -> None:
        self._options = dict(options) if options is not None else None
        self.timeout_s = timeout_s

    async def read(self, sources: Iterable[Source]) -> dict[Source, Lag | str]:
        wanted = sorted(set(sources))
        if not wanted:
            return {}
        if self._options is None:
            return dict.fromkeys(wanted, NOT_CONFIGURED)
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._read(self._options, wanted)
        except TimeoutError:
            reason = f"the Kafka brokers did not answer within {self.timeout_s:g} s"
        except (KafkaError, OSError) as exc:
            reason = f"cannot reach the Kafka brokers: {exc}"
        except Exception as exc:  # an answer aiokafka could not read is no reason to fail the API call
            logger.warning("reading Kafka consumer lag failed", exc_info=True)
            reason = f"cannot read the lag from the Kafka brokers: {type(exc).__name__}: {exc}"
        return dict.fromkeys(wanted, reason)

    async def _read(self, options: dict[str, Any], wanted: list[Source]) -> dict[Source, Lag | str]:
        timeout_ms = max(1, int(self.timeout_s * 1000))
        consumer = AIOKafkaConsumer(**options, enable_auto_commit=False, request_timeout_ms=timeout_ms)
        admin = AIOKafkaAdminClient(**options, request_timeout_ms=timeout_ms)
        try:
            await consumer.start()
            await admin.start()
            await consumer.topics()  # fetches the cluster's metadata: partitions of every topic
            found: dict[Source, Lag | str] = {}
            for topic, group in wanted:
                found[(topic, group)] = await _lag(consumer, admin, topic, group)
            return found
        finally:
            await _close(consumer.stop(), admin.close())


async def _lag(consumer: AIOKafkaConsumer, admin: AIOKafkaAdminClient, topic: str, group: str) -> Lag | str:
    numbers = consumer.partitions_for_topic(topic)
    if not numbers:
        return f"topic {topic!r} does not exist on the Kafka brokers"
    partitions = [TopicPartition(topic, n) for n in sorted(numbers)]
    ends = await consumer.end_offsets(partitions)
    starts = await consumer.beginning_offsets(partitions)
    committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
    rows = []
    for partition in partitions:
        offset = committed.get(partition)
        at = offset.offset if offset is not None and offset.offset >= 0 else None
        end, start = ends[partition], starts[partition]
        resume = start if at is None else max(at, start)
        rows.append(PartitionLag(partition.partition, at, end, max(0, end - resume)))
    return Lag(total=sum(row.lag for row in rows), partitions=tuple(rows))


async def _close(*closing: Any) -> None:
    """Close the clients, bounded too: a broker that stopped answering must not hold the API call."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await asyncio.gather(*closing, return_exceptions=True)

"""The Kafka edge: a third edge beside HTTP and gRPC, for applications declared with a `kafka` binding.

The edge follows the routing table: for each application with a binding it runs an
`ApplicationConsumer` (`router.kafka_consumer`) in the binding's consumer group, started when the
application gains the binding and stopped (its work under way answered within the grace, its offsets
committed) when it loses or changes it or is deleted. Every message becomes one invoke of the data plane
(`router.kafka_partition`), the same entry the HTTP and gRPC edges call. One producer, shared by every
application, writes answers and error records, each to the partition of its topic numbered as the
request's partition when there is one (so the answers of a partition keep its order on a destination
with as many partitions), else by the producer's key hash.

The backlog of each application counts as demand in the router's load reports (`backlog`, read by the
dispatcher), so a version at zero wakes when messages arrive and scales while the backlog lasts.

A router without `HYDRO_KAFKA_BOOTSTRAP_SERVERS` runs no edge: `KafkaOff` says once that it ignores the
bindings it sees.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from router.dataplane import DataPlane
from router.dispatch import Dispatch, Waiting
from router.kafka_consumer import ApplicationConsumer, ConsumerOptions
from router.kafka_messages import Headers
from router.kafka_metrics import ConsumerState, KafkaMetrics
from router.routing import KafkaBinding, RoutingTable

log = logging.getLogger(__name__)

_RETRY_START_S = 2.0


class KafkaEdge:
    """Consumers for the applications with a Kafka binding, over `plane`; `run()` until cancelled."""

    def __init__(
        self,
        plane: DataPlane,
        dispatch: Dispatch,
        metrics: KafkaMetrics,
        options: ConsumerOptions,
        *,
        on_demand: Callable[[str], None],
    ) -> None:
        self.plane = plane
        self.dispatch = dispatch
        self.metrics = metrics
        self.options = options
        self.on_demand = on_demand
        self.consumers: dict[str, ApplicationConsumer] = {}
        self._table: RoutingTable | None = None
        self._changed = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        metrics.watch(self.states)

    def follow(self, table: RoutingTable) -> None:
        """A new routing table (the catalog watch's listener)."""
        self._table = table
        self._changed.set()

    def refresh(self) -> None:
        """Replicas came or went: every consumer follows its capacity at once."""
        for consumer in self.consumers.values():
            consumer.refresh()

    def backlog(self) -> Iterator[tuple[str, Waiting]]:
        """The Kafka backlog as demand, a (version key, share) pair per consumer and version (the
        dispatcher sums them into the load reports)."""
        for consumer in self.consumers.values():
            yield from consumer.demand.items()

    def states(self) -> list[ConsumerState]:
        return [consumer.state() for consumer in self.consumers.values()]

    async def run(self) -> None:
        """Keep the consumers in line with the routing table until cancelled; then stop them."""
        try:
            while True:
                await self._changed.wait()
                self._changed.clear()
                if not await self._reconcile():
                    asyncio.get_running_loop().call_later(_RETRY_START_S, self._changed.set)
        finally:
            await asyncio.gather(*(c.stop() for c in self.consumers.values()), return_exceptions=True)
            self.consumers.clear()
            if self._producer is not None:
                await self._producer.stop()

    async def _reconcile(self) -> bool:
        """Start and stop consumers to match the table; False if one could not start (tried again)."""
        table = self._table
        wanted: dict[str, KafkaBinding] = {}
        if table is not None:
            wanted = {name: route.kafka for name, route in table.routes.items() if route.kafka is not None}
        for name, consumer in list(self.consumers.items()):
            if wanted.get(name) != consumer.binding:
                del self.consumers[name]
                await consumer.stop()
        complete = True
        for name, binding in wanted.items():
            if name in self.consumers:
                continue
            try:
                await self._start_producer()
                consumer = ApplicationConsumer(
                    name,
                    binding,
                    self.plane,
                    self.dispatch,
                    self._send,
                    self.metrics,
                    self.on_demand,
                    self.options,
                )
                await consumer.start()
            except KafkaError as exc:
                log.warning(
                    "kafka %s: cannot reach the brokers (%s); trying again in %.0f s",
                    name,
                    exc,
                    _RETRY_START_S,
                )
                complete = False
                continue
            self.consumers[name] = consumer
        return complete

    async def _start_producer(self) -> None:
        if self._producer is not None:
            return
        producer = AIOKafkaProducer(
            **self.options.client, client_id=self.options.client_id, acks="all", linger_ms=1
        )
        await producer.start()
        self._producer = producer

    async def _send(
        self, topic: str, value: bytes | None, key: bytes | None, headers: Headers, source_partition: int
    ) -> asyncio.Future[Any]:
        producer = self._producer
        if producer is None:
            raise RuntimeError("the Kafka edge sends before its producer started")
        partitions = await producer.partitions_for(topic)
        partition = source_partition if source_partition in partitions else None
        future: asyncio.Future[Any] = await producer.send(
            topic, value, key=key, headers=headers, partition=partition
        )
        return future


class KafkaOff:
    """A router without brokers: warns once that it ignores the applications' Kafka bindings."""

    def __init__(self) -> None:
        self.warned = False

    def follow(self, table: RoutingTable) -> None:
        if self.warned:
            return
        bound = sorted(name for name, route in table.routes.items() if route.kafka is not None)
        if bound:
            self.warned = True
            log.warning(
                "applications %s have a Kafka endpoint, but this router has no brokers "
                "(HYDRO_KAFKA_BOOTSTRAP_SERVERS is empty): it serves them over HTTP and gRPC only",
                ", ".join(bound),
            )

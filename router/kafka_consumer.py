"""One Kafka application's consumer in this router: its group membership, its partitions' work, the
offsets it commits, its lag and the capacity it may use.

Every router joins the application's consumer group, so the source topic's partitions spread over the
routers and move when one stops. Per assigned partition a `PartitionWork` serves the messages in order;
their acknowledged offsets are committed by one loop, a commit at a time, each carrying every partition's
newest acknowledged offset (so a busy application commits often without a commit per message).

On a rebalance, the revoked partitions' work gets `revoke_grace_s` to be answered and acknowledged, its
offsets are committed, and the rest is abandoned uncommitted: the partition's next reader serves it
again. A message read again at an offset this router already answered is counted as a duplicate.

Flow: the application may have `capacity_of` messages in the data plane at once (`router.kafka_flow`);
while that is zero (a stage has no ready replica) every partition with records waiting is paused and
each version the application routes to is woken through the scaler, and the backlog is reported as demand
in the load reports; the partitions resume as soon as a replica is ready. An empty partition keeps
fetching at zero (the broker holds the fetch until a record comes), so the first message wakes its
versions at once rather than at the next look at the end offsets. A partition with `max_buffered` records
fetched and not yet handed over is paused too, until its work catches up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from router.dataplane import DataPlane
from router.dispatch import Dispatch, Waiting
from router.kafka_flow import Capacity, backlog_demand, capacity_of
from router.kafka_messages import Record
from router.kafka_metrics import ConsumerState, KafkaMetrics
from router.kafka_partition import PartitionOptions, PartitionWork, Send
from router.routing import KafkaBinding, Route

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsumerOptions:
    client: dict[str, Any]
    """aiokafka's connection options (`servicekit.kafka_client.client_options`)."""
    client_id: str
    partition: PartitionOptions
    session_timeout_ms: int = 10_000
    """A member silent this long leaves the group (its partitions move)."""
    fetch_max_wait_ms: int = 10
    """The longest a fetch waits at the broker for records (Tansu holds every fetch this long)."""
    unlimited_per_replica: int = 32
    """Messages a replica with no `container_concurrency` limit is sent at once."""
    revoke_grace_s: float = 5.0
    """How long revoked or stopped partitions' messages under way may take to be answered."""
    offsets_interval_s: float = 1.0
    """How often the source topic's end offsets are read (for the lag)."""
    max_buffered: int = 1000
    """Records fetched ahead per partition before it is paused."""


class ApplicationConsumer:
    def __init__(
        self,
        application: str,
        binding: KafkaBinding,
        plane: DataPlane,
        dispatch: Dispatch,
        send: Send,
        metrics: KafkaMetrics,
        on_demand: Callable[[str], None],
        options: ConsumerOptions,
    ) -> None:
        self.application = application
        self.binding = binding
        self.plane = plane
        self.dispatch = dispatch
        self.send = send
        self.metrics = metrics
        self.counters = metrics.counters(application)
        self.on_demand = on_demand
        self.options = options
        self.capacity = Capacity()
        self.demand: dict[str, Waiting] = {}
        """The backlog as demand per version key, for the load reports."""
        self.lag = 0
        self.backlog = 0
        self._topic = binding.source_topic
        self._consumer: AIOKafkaConsumer | None = None
        self._works: dict[int, PartitionWork] = {}
        self._answered: dict[int, int] = {}
        self._starts: dict[int, int] = {}
        """Where each assigned partition's reading started (its committed offset)."""
        self._acked: dict[int, int] = {}
        self._ends: dict[int, int] = {}
        self._pending: dict[int, int] = {}
        self._to_commit = asyncio.Event()
        self._commit_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Join the group (raise KafkaError when the brokers cannot be reached) and start reading."""
        consumer = AIOKafkaConsumer(
            **self.options.client,
            group_id=self.binding.consumer_group,
            client_id=self.options.client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=self.options.session_timeout_ms,
            fetch_max_wait_ms=self.options.fetch_max_wait_ms,
            heartbeat_interval_ms=max(100, self.options.session_timeout_ms // 4),
        )
        consumer.subscribe([self._topic], listener=_Listener(self))
        try:
            await consumer.start()
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        name = f"kafka {self.application}"
        self._tasks = [
            asyncio.create_task(self._fetch(), name=f"{name} fetch"),
            asyncio.create_task(self._commit_loop(), name=f"{name} commit"),
            asyncio.create_task(self._watch(), name=f"{name} watch"),
        ]
        log.info(
            "kafka %s: reading %r in group %r, answering to %r, errors to %r",
            self.application,
            self._topic,
            self.binding.consumer_group,
            self.binding.destination_topic,
            self.binding.error_topic,
        )

    async def stop(self) -> None:
        """Leave the group: what is under way gets `revoke_grace_s`, acknowledged offsets are committed."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._close_works(list(self._works))
        if self._consumer is not None:
            with contextlib.suppress(KafkaError):
                await self._consumer.stop()
        log.info("kafka %s: stopped reading %r", self.application, self._topic)

    def state(self) -> ConsumerState:
        consumer = self._consumer
        paused = len(consumer.paused()) if consumer is not None else 0
        return ConsumerState(self.application, self.lag, len(self._works), paused)

    # -- rebalances -------------------------------------------------------------------------------

    async def assigned(self, partitions: list[int]) -> None:
        self.metrics.rebalances.labels(self.application).inc()
        for partition in partitions:
            if partition not in self._works:
                self._works[partition] = self._work(partition)
        log.info("kafka %s: assigned partitions %s of %r", self.application, sorted(partitions), self._topic)
        self.refresh()

    async def revoked(self, partitions: list[int]) -> None:
        await self._close_works([p for p in partitions if p in self._works])

    async def _close_works(self, partitions: list[int]) -> None:
        works = [self._works.pop(p) for p in partitions if p in self._works]
        await asyncio.gather(*(work.close(self.options.revoke_grace_s) for work in works))
        await self._commit()
        for partition in partitions:
            for known in (self._starts, self._acked, self._ends):
                known.pop(partition, None)

    def _work(self, partition: int) -> PartitionWork:
        work = PartitionWork(
            partition,
            self.application,
            self.binding,
            self.plane,
            self.send,
            self.capacity,
            self._acknowledged,
            self.counters,
            self._answered,
            self.options.partition,
        )
        work.failed.add_done_callback(lambda failed: self._spawn(self._restart(work, failed.result())))
        return work

    async def _restart(self, work: PartitionWork, offset: int) -> None:
        """Serve the partition again from `offset`, the first message the broker did not store."""
        await work.close(0)
        if self._works.get(work.partition) is not work or self._consumer is None:
            return
        self._consumer.seek(TopicPartition(self._topic, work.partition), offset)
        self._works[work.partition] = self._work(work.partition)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.append(task)

    # -- reading ----------------------------------------------------------------------------------

    async def _fetch(self) -> None:
        consumer = self._require()
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=200, max_records=500)
            except KafkaError as exc:
                log.warning("kafka %s: reading %r failed: %s", self.application, self._topic, exc)
                await asyncio.sleep(1.0)
                continue
            for partition, records in batches.items():
                work = self._works.get(partition.partition)
                if work is not None and partition.topic == self._topic:
                    work.add(_records(records))
            if batches and self.capacity.limit == 0:
                self.refresh()  # the first messages at zero: wake the versions now, not at the next look
            else:
                self._apply_pauses()

    def _apply_pauses(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        assigned = consumer.assignment()
        stopped = self.capacity.limit == 0
        wanted = set()
        for partition in assigned:
            work = self._works.get(partition.partition)
            buffered = work.buffered if work is not None else 0
            # At zero an empty partition keeps fetching (the broker holds the fetch until a record comes),
            # so the first message wakes its versions at once; one with records waits, paused.
            if (stopped and buffered > 0) or buffered >= self.options.max_buffered:
                wanted.add(partition)
        paused = consumer.paused()
        if wanted - paused:
            consumer.pause(*(wanted - paused))
        if (paused - wanted) & assigned:
            consumer.resume(*((paused - wanted) & assigned))

    # -- committing -------------------------------------------------------------------------------

    def _acknowledged(self, partition: int, next_offset: int) -> None:
        self._acked[partition] = next_offset
        self._pending[partition] = next_offset
        self._to_commit.set()

    async def _commit_loop(self) -> None:
        while True:
            await self._to_commit.wait()
            self._to_commit.clear()
            await self._commit()

    async def _commit(self) -> None:
        async with self._commit_lock:
            if not self._pending or self._consumer is None:
                return
            offsets, self._pending = self._pending, {}
            started = time.perf_counter()
            try:
                await self._consumer.commit({TopicPartition(self._topic, p): o for p, o in offsets.items()})
            except KafkaError as exc:
                self.metrics.commit_failures.labels(self.application).inc()
                log.warning("kafka %s: committing %s failed: %s", self.application, offsets, exc)
                for partition, offset in offsets.items():
                    if partition in self._works and offset > self._pending.get(partition, -1):
                        self._pending[partition] = offset
                return
            self.metrics.commit_latency.labels(self.application).observe(time.perf_counter() - started)

    # -- lag, capacity, demand --------------------------------------------------------------------

    async def _watch(self) -> None:
        next_offsets = 0.0
        while True:
            self.refresh()
            if time.monotonic() >= next_offsets:
                next_offsets = time.monotonic() + self.options.offsets_interval_s
                try:
                    await asyncio.wait_for(self._read_offsets(), self.options.offsets_interval_s * 5)
                except (KafkaError, TimeoutError) as exc:
                    log.debug("kafka %s: reading offsets failed: %s", self.application, exc)
            await asyncio.sleep(0.1)

    async def _read_offsets(self) -> None:
        consumer = self._require()
        partitions = [TopicPartition(self._topic, p) for p in self._works]
        if not partitions:
            return
        for partition in partitions:
            if partition.partition not in self._starts:
                self._starts[partition.partition] = await consumer.position(partition)
        ends = await consumer.end_offsets(partitions)
        self._ends = {partition.partition: end for partition, end in ends.items()}

    def refresh(self) -> None:
        """Follow the replicas: the capacity, the pauses, the backlog as demand, wake a version at zero."""
        table = self.plane.catalog.view
        route = table.routes.get(self.application) if table is not None else None
        if route is None or not route.routable:
            self.capacity.set_limit(0)
            self.demand = {}
            self._apply_pauses()
            return
        self.capacity.set_limit(
            capacity_of(
                route, lambda v: len(self.dispatch.queue(v).replicas), self.options.unlimited_per_replica
            )
        )
        self._apply_pauses()
        self._measure(route)

    def _measure(self, route: Route) -> None:
        lag = backlog = 0
        for partition, work in self._works.items():
            start = self._starts.get(partition, work.next_offset)
            if start is None:
                continue
            # Some brokers (Tansu) answer an end offset behind the records they just served: never
            # below what was fetched.
            end = max(self._ends.get(partition, 0), work.fetched_end or 0)
            handed = work.next_offset if work.next_offset is not None else start
            backlog += max(0, end - handed)
            lag += max(0, end - self._acked.get(partition, start))
        self.lag, self.backlog = lag, backlog
        self.demand = backlog_demand(route, backlog, len(self._works))
        for key in self.demand:
            self.on_demand(key)
        if backlog and self.capacity.limit == 0:
            for stage in route.stages:
                for version in stage.variants:
                    self.dispatch.queue(version).prewake()

    def _require(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("ApplicationConsumer used before start()")
        return self._consumer


def _records(records: list[Any]) -> list[Record]:
    return records


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """aiokafka's rebalance callbacks, run before the group moves partitions."""

    def __init__(self, owner: ApplicationConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self.owner.revoked([p.partition for p in revoked])

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self.owner.assigned([p.partition for p in assigned])

"""One assigned partition of a Kafka application: its messages served in order, at least once.

Three small loops per partition:

- the feeder hands the partition's records to the data plane one by one, each as its own invoke
  (`DataPlane.invoke`, the one entry every edge calls), with at most `window` of the partition's
  messages between the data plane and an acknowledged answer, and only while the application's
  `Capacity` has room (the variant's capacity, shared by all of the application's partitions);
- the emitter takes the invokes' outcomes in offset order and produces each one, the answer to the
  destination topic or the message to the error topic (`router.kafka_messages`);
- the acker waits for the broker's acknowledgement of each record, in order, and only then hands the
  next offset to the committer: an offset is never committed before its answer is stored.

A message's invoke is retried while the failure is the platform's (no replica within the hold timeout,
the queue full, the route being replaced: an `UnavailableError` and kin) with a capped backoff, so a
backlog waits rather than spilling into the error topic; a model failure is retried `retries` times;
what the message itself gets wrong (its JSON, names, datatypes, shapes, invoke key) goes to the error
topic at once. A record the broker does not acknowledge stops the partition's work (`failed`): the
consumer starts it again from the last acknowledged offset, answering some messages twice rather than
losing one.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka.errors import KafkaError

from router.dataplane import DataPlane
from router.errors import (
    ApplicationNotFoundError,
    DeadlineExceededError,
    QueueFullError,
    RouterError,
    UnavailableError,
    UpstreamError,
    VersionNotFoundError,
)
from router.grpc_status import GRPC_STATUSES
from router.invocation import Invocation
from router.kafka_flow import Capacity
from router.kafka_messages import Headers, Message, Record
from router.routing import KafkaBinding

log = logging.getLogger(__name__)

# Not the message's fault: wait and try again, however long (the route of a deleted application stops
# its consumer, which abandons the wait). A version asked for that does not exist is the message's.
_WAIT_AND_RETRY = (UnavailableError, QueueFullError, DeadlineExceededError)
_RETRY_A_FEW_TIMES = (UpstreamError,)
_MAX_BACKOFF_S = 5.0

Send = Callable[[str, bytes | None, bytes | None, Headers, int], Awaitable[asyncio.Future[Any]]]
"""(topic, value, key, headers, source partition) -> the broker's acknowledgement to await."""


@dataclass(frozen=True)
class PartitionOptions:
    window: int = 32
    """Most messages of one partition between the data plane and an acknowledged answer."""
    retries: int = 2
    """A model failure is tried this many times more before the message goes to the error topic."""
    backoff_s: float = 0.2
    """First pause before a retry; it doubles up to 5 s."""


@dataclass(frozen=True)
class Outcome:
    topic: str
    value: bytes | None
    headers: Headers
    code: str
    """'ok' for an answer, else the error's reason."""


class PartitionCounters(Protocol):
    """Told of each message's fate (the edge's metrics of the application)."""

    def received(self) -> None: ...
    def duplicate(self) -> None: ...
    def settled(self, outcome: Outcome) -> None: ...


class PartitionWork:
    """The work of one partition `partition` of `binding.source_topic` (see the module docstring)."""

    def __init__(
        self,
        partition: int,
        application: str,
        binding: KafkaBinding,
        plane: DataPlane,
        send: Send,
        capacity: Capacity,
        acked: Callable[[int, int], None],
        counters: PartitionCounters,
        answered: dict[int, int],
        options: PartitionOptions,
    ) -> None:
        self.partition = partition
        self.application = application
        self.binding = binding
        self.plane = plane
        self.send = send
        self.capacity = capacity
        self.acked = acked
        """(partition, next offset) once the answers up to there are stored."""
        self.counters = counters
        self.answered = answered
        """Highest offset answered per partition by this router (duplicates are counted against it)."""
        self.options = options
        self.next_offset: int | None = None
        """The offset of the next message to hand to the data plane (None before the first fetch)."""
        self.fetched_end: int | None = None
        self.failed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        """Set to the offset to start again from when the broker did not store an answer."""
        self._records: deque[Record] = deque()
        self._more = asyncio.Event()
        self._window = asyncio.Semaphore(options.window)
        self._flight: asyncio.Queue[tuple[Record, Message, asyncio.Task[Outcome]]] = asyncio.Queue()
        self._acks: asyncio.Queue[tuple[Record, asyncio.Future[Any], Outcome]] = asyncio.Queue()
        self._unsettled = 0
        self._settled = asyncio.Event()
        self._settled.set()
        self._invokes: set[asyncio.Task[Outcome]] = set()
        self._loops = [
            asyncio.create_task(self._feed(), name=f"kafka {application}[{partition}] feed"),
            asyncio.create_task(self._emit(), name=f"kafka {application}[{partition}] emit"),
            asyncio.create_task(self._ack(), name=f"kafka {application}[{partition}] ack"),
        ]

    @property
    def buffered(self) -> int:
        """Records fetched and not yet handed to the data plane."""
        return len(self._records)

    def add(self, records: list[Record]) -> None:
        if not records:
            return
        if self.next_offset is None:
            self.next_offset = records[0].offset
        self._records.extend(records)
        self.fetched_end = records[-1].offset + 1
        self._more.set()

    async def close(self, grace_s: float) -> None:
        """Stop handing messages over; give those under way `grace_s` to be answered and acknowledged,
        then abandon the rest (their offsets stay uncommitted, so whoever reads the partition next
        answers them)."""
        self._loops[0].cancel()
        if self._unsettled and grace_s > 0:
            try:
                async with asyncio.timeout(grace_s):
                    await self._settled.wait()
            except TimeoutError:
                log.info(
                    "kafka %s[%d]: %d messages abandoned unanswered after %.1f s",
                    self.application,
                    self.partition,
                    self._unsettled,
                    grace_s,
                )
        for task in (*self._loops, *self._invokes):
            task.cancel()
        await asyncio.gather(*self._loops, *self._invokes, return_exceptions=True)

    # -- the three loops --------------------------------------------------------------------------

    async def _feed(self) -> None:
        while True:
            while not self._records:
                self._more.clear()
                await self._more.wait()
            record = self._records[0]
            await self._window.acquire()
            try:
                await self.capacity.acquire()
            except BaseException:
                self._window.release()
                raise
            self._records.popleft()
            self.next_offset = record.offset + 1
            self.counters.received()
            if record.offset <= self.answered.get(self.partition, -1):
                self.counters.duplicate()
            message = Message(record)
            task = asyncio.create_task(self._serve(record, message))
            self._invokes.add(task)
            task.add_done_callback(self._invokes.discard)
            self._unsettled += 1
            self._settled.clear()
            self._flight.put_nowait((record, message, task))

    async def _emit(self) -> None:
        while True:
            record, message, task = await self._flight.get()
            outcome = await task
            pause = self.options.backoff_s
            while True:
                try:
                    delivery = await self.send(
                        outcome.topic, outcome.value, record.key, outcome.headers, self.partition
                    )
                    break
                except KafkaError as exc:  # no metadata for the topic yet, the producer's buffer full
                    log.warning(
                        "kafka %s[%d]: cannot produce to %r (%s); trying again in %.1f s",
                        self.application,
                        self.partition,
                        outcome.topic,
                        exc,
                        pause,
                    )
                    await asyncio.sleep(pause)
                    pause = min(_MAX_BACKOFF_S, pause * 2)
            self._window.release()
            self._acks.put_nowait((record, delivery, outcome))

    async def _ack(self) -> None:
        while True:
            record, delivery, outcome = await self._acks.get()
            try:
                await delivery
            except Exception as exc:
                log.warning(
                    "kafka %s[%d]: the broker did not store the %s of offset %d (%s); starting the "
                    "partition again from there",
                    self.application,
                    self.partition,
                    "answer" if outcome.code == "ok" else "error record",
                    record.offset,
                    exc,
                )
                if not self.failed.done():
                    self.failed.set_result(record.offset)
                return
            self.answered[self.partition] = max(self.answered.get(self.partition, -1), record.offset)
            self.counters.settled(outcome)
            self.acked(self.partition, record.offset + 1)
            self._unsettled -= 1
            if not self._unsettled:
                self._settled.set()

    # -- one message ------------------------------------------------------------------------------

    async def _serve(self, record: Record, message: Message) -> Outcome:
        try:
            return await self._invoke(record, message)
        finally:
            self.capacity.release()

    async def _invoke(self, record: Record, message: Message) -> Outcome:
        attempt = 0
        pause = self.options.backoff_s
        while True:
            invocation = Invocation(
                self.application,
                "kafka",
                message.request_id,
                GRPC_STATUSES,
                message.reply,
                refused_id=message.refused_id,
                authorization=message.authorization,
                decode=message.decode,
            )
            try:
                answer = await self.plane.invoke(invocation)
                return Outcome(self.binding.destination_topic, answer, message.answer_headers(), "ok")
            except RouterError as exc:
                waits = isinstance(exc, _WAIT_AND_RETRY) or (
                    isinstance(exc, ApplicationNotFoundError) and not isinstance(exc, VersionNotFoundError)
                )
                if not waits and not (isinstance(exc, _RETRY_A_FEW_TIMES) and attempt < self.options.retries):
                    return Outcome(
                        self.binding.error_topic,
                        record.value,
                        message.error_headers(str(exc), exc.reason),
                        exc.reason,
                    )
                attempt += 1
                log.info(
                    "kafka %s[%d] offset %d: %s; trying again in %.1f s",
                    self.application,
                    self.partition,
                    record.offset,
                    exc,
                    pause,
                )
            await asyncio.sleep(pause)
            pause = min(_MAX_BACKOFF_S, pause * 2)

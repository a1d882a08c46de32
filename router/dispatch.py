"""Capacity-aware dispatch per version: ready replicas, a bounded FIFO of held requests, activation.

A request takes a replica with room (fewer than `container_concurrency` outstanding requests, 0 = no
limit), the one with the fewest outstanding requests; when none has room it is held in the version's
FIFO queue, up to `max_queue` requests (one more is refused) and up to `hold_timeout_s` each. Held
requests are handed a replica, oldest first, as soon as one has room: when a request finishes, when the
scaler reports a new ready replica, or when the limits change. Nothing polls.

A version with held requests and no ready replica is activated through the scaler, once however many
requests are waiting (again every `reactivate_interval_s` while they still wait, and after a failed
call). A replica that refuses a connection is taken out of rotation here at once, for `quarantine_s` or
until the scaler stops listing it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from protos.inference import grpc_service_pb2_grpc as pb_grpc
from router.channels import ChannelPool
from router.errors import (
    ActivationError,
    DeadlineExceededError,
    HoldTimeoutError,
    QueueFullError,
    RouteRemovedError,
)
from router.routing import Limits, RoutingTable, Version

log = logging.getLogger(__name__)

Activate = Callable[[str], Awaitable[None]]
Endpoint = tuple[str, str]
"""(replica_id, address) of a ready replica, as the scaler lists it."""


@dataclass(eq=False)
class Replica:
    """A ready replica of one version and the requests this router has outstanding on it."""

    replica_id: str
    address: str
    stub: pb_grpc.GRPCInferenceServiceStub
    outstanding: int = 0


@dataclass(frozen=True)
class VersionLoad:
    """A version's load over the last report window: time-averaged, rounded up, at least the current."""

    version_key: str
    in_flight: int
    queued: int

    @property
    def demand(self) -> int:
        return self.in_flight + self.queued


class VersionQueue:
    """Ready replicas and held requests of one version."""

    def __init__(
        self,
        key: str,
        limits: Limits,
        pool: ChannelPool,
        *,
        activate: Activate,
        on_demand: Callable[[str], None],
        quarantine_s: float,
        reactivate_interval_s: float,
    ) -> None:
        self.key = key
        self.limits = limits
        self.replicas: list[Replica] = []
        """In rotation: listed by the scaler and not quarantined."""
        self.in_flight = 0
        self.activations = 0
        self.takeouts = 0
        self.last_activation_error: str | None = None
        self.reported_demand = False
        """Whether the last load report showed demand for this version (so the next one reports zero)."""
        self._pool = pool
        self._activate = activate
        self._on_demand = on_demand
        self._quarantine_s = quarantine_s
        self._reactivate_interval_s = reactivate_interval_s
        self._listed: dict[str, Replica] = {}
        self._quarantine: dict[str, float] = {}
        self._waiters: deque[asyncio.Future[Replica]] = deque()
        self._held_for: dict[asyncio.Future[Replica], str] = {}
        """The application each held request is for (to fail it when a snapshot removes the route)."""
        self._turn = 0
        self._activation: asyncio.Task[None] | None = None
        self._activated_at = -math.inf
        self._settled = asyncio.Event()
        # Time-weighted load since the last report: any request in a window counts, however short.
        self._window_start = self._changed_at = time.monotonic()
        self._in_flight_area = 0.0
        self._queued_area = 0.0

    @property
    def queued(self) -> int:
        return len(self._waiters)

    # -- taking and giving back a replica ---------------------------------------------------------

    def try_acquire(self) -> Replica | None:
        """A replica with room, at once, or None (then `acquire` holds the request)."""
        if self._waiters:
            return None  # FIFO: those already waiting go first
        replica = self._pick()
        if replica is not None:
            self._account()
            if self.in_flight == 0:
                self._on_demand(self.key)
            replica.outstanding += 1
            self.in_flight += 1
        return replica

    async def acquire(self, application: str, deadline: float | None) -> Replica:
        """Hold the request until a replica has room for it.

        Raises QueueFullError when `max_queue` requests are already held, HoldTimeoutError after
        `hold_timeout_s`, and DeadlineExceededError when the caller's `deadline` (loop time) comes first.
        """
        replica = self.try_acquire()
        if replica is not None:
            return replica
        if len(self._waiters) >= self.limits.max_queue:
            raise QueueFullError(application, self.key, self.limits.max_queue)
        loop = asyncio.get_running_loop()
        timeout = self.limits.hold_timeout_s
        by_deadline = deadline is not None and deadline - loop.time() < timeout
        if deadline is not None and by_deadline:
            timeout = max(0.0, deadline - loop.time())
        waiter: asyncio.Future[Replica] = loop.create_future()
        self._account()
        if self.in_flight == 0 and not self._waiters:
            self._on_demand(self.key)
        self._waiters.append(waiter)
        self._held_for[waiter] = application
        self._settled.clear()
        if not self.replicas:
            self._wake()
        try:
            await asyncio.wait((waiter,), timeout=timeout)
        except asyncio.CancelledError:
            self._abandon(waiter)
            raise
        finally:
            self._held_for.pop(waiter, None)
        if waiter.done():
            return waiter.result()
        self._abandon(waiter)
        if by_deadline:
            raise DeadlineExceededError(
                f"application {application!r}: the deadline passed while waiting for a replica of {self.key}"
            )
        raise HoldTimeoutError(self._timeout_message(application))

    def release(self, replica: Replica) -> None:
        """The request on `replica` finished (answered or failed)."""
        self._account()
        replica.outstanding -= 1
        self.in_flight -= 1
        if self._waiters:
            self._drain()

    def take_out(self, replica: Replica, reason: str) -> None:
        """Stop sending to `replica` (it refused a connection) for `quarantine_s` or until it is unlisted."""
        if replica.replica_id not in self._listed or replica.replica_id in self._quarantine:
            return
        self.takeouts += 1
        log.warning(
            "%s: replica %s at %s out of rotation: %s", self.key, replica.replica_id, replica.address, reason
        )
        loop = asyncio.get_running_loop()
        self._quarantine[replica.replica_id] = loop.time() + self._quarantine_s
        loop.call_later(self._quarantine_s, self._rotate)
        self._rotate()

    # -- what the scaler and the catalog tell -----------------------------------------------------

    def set_endpoints(self, endpoints: Sequence[Endpoint]) -> None:
        """The scaler's current list of ready replicas of this version."""
        listed: dict[str, Replica] = {}
        for replica_id, address in endpoints:
            known = self._listed.get(replica_id)
            if known is None or known.address != address:
                known = Replica(replica_id, address, self._pool.stub(address))
            listed[replica_id] = known
        self._listed = listed
        self._quarantine = {rid: until for rid, until in self._quarantine.items() if rid in listed}
        self._rotate()

    def evict(self, table: RoutingTable) -> int:
        """Fail at once the held requests whose application `table` no longer routes to this version."""
        removed = self.key not in table.versions
        evicted: list[asyncio.Future[Replica]] = []
        for waiter in self._waiters:
            application = self._held_for.get(waiter)
            if application is None or waiter.done():
                continue
            route = table.routes.get(application)
            if removed or route is None or not route.routes_to(self.key):
                waiter.set_exception(
                    RouteRemovedError(application, self.key, application_deleted=route is None)
                )
                evicted.append(waiter)
        if evicted:
            self._account()
            gone = set(evicted)
            self._waiters = deque(w for w in self._waiters if w not in gone)
            log.info("%s: %d held requests failed: their route was removed", self.key, len(evicted))
            self._check_settled()
        return len(evicted)

    def load(self) -> VersionLoad:
        """The load since the last call: time-averaged, rounded up, never below the current load."""
        self._account()
        window = self._changed_at - self._window_start
        in_flight, queued = self.in_flight, len(self._waiters)
        if window > 0:
            in_flight = max(in_flight, math.ceil(self._in_flight_area / window))
            queued = max(queued, math.ceil(self._queued_area / window))
        self._window_start = self._changed_at
        self._in_flight_area = self._queued_area = 0.0
        return VersionLoad(self.key, in_flight, queued)

    def prewake(self) -> None:
        """Activate now if no replica is ready, without holding anything (a later pipeline stage)."""
        if not self.replicas:
            self._wake(force=True)

    def set_limits(self, limits: Limits) -> None:
        if limits != self.limits:
            self.limits = limits
            self._drain()

    def close(self) -> None:
        if self._activation is not None:
            self._activation.cancel()

    # -- inside -----------------------------------------------------------------------------------

    def _account(self) -> None:
        """Add the load since the last change to the window's area (call before every change)."""
        now = time.monotonic()
        elapsed = now - self._changed_at
        self._in_flight_area += self.in_flight * elapsed
        self._queued_area += len(self._waiters) * elapsed
        self._changed_at = now

    def _pick(self) -> Replica | None:
        """The replica with room and the fewest outstanding requests (ties taken in turn)."""
        replicas = self.replicas
        limit = self.limits.container_concurrency
        count = len(replicas)
        if count == 1:
            only = replicas[0]
            return only if limit == 0 or only.outstanding < limit else None
        best: Replica | None = None
        start = self._turn
        for i in range(count):
            replica = replicas[(start + i) % count]
            if limit and replica.outstanding >= limit:
                continue
            if best is None or replica.outstanding < best.outstanding:
                best = replica
        self._turn = (start + 1) % count if count else 0
        return best

    def _drain(self) -> None:
        """Hand replicas with room to held requests, oldest first."""
        while self._waiters:
            replica = self._pick()
            if replica is None:
                break
            self._account()
            waiter = self._waiters.popleft()
            if waiter.done():
                continue
            replica.outstanding += 1
            self.in_flight += 1
            waiter.set_result(replica)
        self._check_settled()

    def _rotate(self) -> None:
        """Rebuild the rotation from the scaler's list minus the quarantined replicas."""
        # The margin: the loop may run the expiry timer up to its clock resolution early.
        now = asyncio.get_running_loop().time() + 0.005
        self._quarantine = {rid: until for rid, until in self._quarantine.items() if until > now}
        self.replicas = [r for rid, r in self._listed.items() if rid not in self._quarantine]
        if self.replicas:
            self._activated_at = -math.inf  # that activation is done: losing them all activates anew
            self._drain()
        elif self._waiters:
            self._wake()

    def _abandon(self, waiter: asyncio.Future[Replica]) -> None:
        """A held request gave up (timeout or cancel); give back a replica it was handed meanwhile."""
        if waiter.done() and not waiter.cancelled():
            self.release(waiter.result())
            return
        waiter.cancel()
        self._account()
        try:
            self._waiters.remove(waiter)
        except ValueError:
            pass
        self._check_settled()

    def _needs_replica(self) -> bool:
        return bool(self._waiters) and not self.replicas

    def _check_settled(self) -> None:
        if not self._needs_replica():
            self._settled.set()

    def _wake(self, *, force: bool = False) -> None:
        """Make sure an activation is under way (one per version, however many requests wait)."""
        if self._activation is None or self._activation.done():
            self._activation = asyncio.get_running_loop().create_task(
                self._activation_loop(force), name=f"activate {self.key}"
            )

    async def _activation_loop(self, force: bool) -> None:
        """Activate while requests wait for a replica (at least once when `force`d)."""
        backoff = 0.1
        while force or self._needs_replica():
            force = False
            since = time.monotonic() - self._activated_at
            if since < self._reactivate_interval_s:
                pause = self._reactivate_interval_s - since  # activated a moment ago: give it time
            else:
                try:
                    await self._activate(self.key)
                    self._activated_at = time.monotonic()
                    self.activations += 1
                    self.last_activation_error = None
                    pause = self._reactivate_interval_s
                    backoff = 0.1
                except ActivationError as exc:
                    self.last_activation_error = str(exc)
                    log.warning("%s: %s; retrying in %.1f s", self.key, exc, backoff)
                    pause = backoff
                    backoff = min(2.0, backoff * 2)
            self._settled.clear()
            if not self._needs_replica():
                break
            try:
                async with asyncio.timeout(pause):
                    await self._settled.wait()
            except TimeoutError:
                pass

    def _timeout_message(self, application: str) -> str:
        message = (
            f"application {application!r}: no replica of {self.key} was ready within its hold timeout of "
            f"{self.limits.hold_timeout_s:g} s (hold_timeout_s)"
        )
        if self.replicas:
            message += f"; all {len(self.replicas)} ready replicas were busy"
        if self.last_activation_error:
            message += f"; last activation error: {self.last_activation_error}"
        return message


class Dispatch:
    """The queues of every version this router has routed to, and the scaler's endpoints for them."""

    def __init__(
        self,
        pool: ChannelPool,
        *,
        activate: Activate,
        on_demand: Callable[[str], None],
        quarantine_s: float,
        reactivate_interval_s: float,
    ) -> None:
        self._pool = pool
        self._activate = activate
        self._on_demand = on_demand
        self._quarantine_s = quarantine_s
        self._reactivate_interval_s = reactivate_interval_s
        self._queues: dict[str, VersionQueue] = {}
        self._endpoints: dict[str, list[Endpoint]] = {}

    def queue(self, version: Version) -> VersionQueue:
        queue = self._queues.get(version.key)
        if queue is None:
            queue = self._queues[version.key] = VersionQueue(
                version.key,
                version.limits,
                self._pool,
                activate=self._activate,
                on_demand=self._on_demand,
                quarantine_s=self._quarantine_s,
                reactivate_interval_s=self._reactivate_interval_s,
            )
            queue.set_endpoints(self._endpoints.get(version.key, []))
        return queue

    def queues(self) -> Iterable[VersionQueue]:
        return self._queues.values()

    def set_endpoints(self, endpoints: Mapping[str, Sequence[Endpoint]]) -> None:
        """The scaler's full list of ready replicas per version; versions it omits have none."""
        self._endpoints = {key: list(ready) for key, ready in endpoints.items()}
        for key, queue in self._queues.items():
            queue.set_endpoints(self._endpoints.get(key, []))
        self._pool.retain(address for ready in self._endpoints.values() for _, address in ready)

    def set_routing(self, table: RoutingTable) -> None:
        """A new routing table: a queue for every version (so that channels to its replicas open before
        the first request), with the limits of its deployment config; held requests whose application or
        version the table removed fail at once."""
        for version in table.versions.values():
            self.queue(version).set_limits(version.limits)
        for queue in self._queues.values():
            queue.evict(table)

    def loads(self) -> list[VersionLoad]:
        """The load of every version that has some, or had some in the last window reported."""
        loads = []
        for queue in self._queues.values():
            load = queue.load()
            if load.demand or queue.reported_demand:
                loads.append(load)
            queue.reported_demand = load.demand > 0
        return loads

    def close(self) -> None:
        for queue in self._queues.values():
            queue.close()

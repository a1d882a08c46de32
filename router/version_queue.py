"""One version's ready replicas and the bounded FIFO of requests held for them.

A request takes a replica with room (fewer than `container_concurrency` outstanding requests, 0 = no
limit), the one with the fewest outstanding requests; when none has room it is held in the version's
FIFO queue, up to `max_queue` requests (one more is refused) and up to `hold_timeout_s` each. Held
requests are handed a replica, oldest first, as soon as one has room: when a request finishes, when the
scaler reports a new ready replica, or when the limits change. Nothing polls.

A version with held requests and no ready replica is activated through the scaler (`router.activation`);
which replicas are in rotation is `router.rotation`'s business, the load told to the scaler
`router.load_window`'s. Callers take a replica for the span of one call with `async with
queue.replica(...)`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

from router.activation import Activate, Activation
from router.channels import ChannelPool
from router.errors import (
    DeadlineExceededError,
    HoldTimeoutError,
    QueueFullError,
    RouteRemovedError,
    RouterError,
)
from router.load_window import LoadWindow, VersionLoad
from router.rotation import Endpoint, Replica, Rotation
from router.routing import Limits, RoutingTable

log = logging.getLogger(__name__)


class HoldObserver(Protocol):
    """Told of every hold (the router's metrics)."""

    def hold_started(self, application: str, version_key: str) -> None: ...

    def hold_ended(self, application: str, version_key: str, outcome: str, seconds: float) -> None: ...


class HoldClock(Protocol):
    """Where a request adds up the time it was held (its `RequestContext`)."""

    held_s: float


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
        holds: HoldObserver | None = None,
    ) -> None:
        self.key = key
        self.limits = limits
        self.in_flight = 0
        self.reported_demand = False
        """Whether the last load report showed demand for this version (so the next one reports zero)."""
        self._rotation = Rotation(key, pool, quarantine_s=quarantine_s, on_change=self._rotated)
        self._on_demand = on_demand
        self._holds = holds
        self._activation = Activation(
            key, activate, self._needs_replica, reactivate_interval_s=reactivate_interval_s
        )
        self._waiters: deque[asyncio.Future[Replica]] = deque()
        self._held_for: dict[asyncio.Future[Replica], str] = {}
        """The application each held request is for (to fail it when a snapshot removes the route)."""
        self._turn = 0
        self._window = LoadWindow()

    @property
    def queued(self) -> int:
        return len(self._waiters)

    @property
    def replicas(self) -> list[Replica]:
        """In rotation: listed by the scaler and not quarantined."""
        return self._rotation.replicas

    @property
    def takeouts(self) -> int:
        """Replicas taken out of rotation after refusing a connection."""
        return self._rotation.takeouts

    @property
    def activations(self) -> int:
        """Activate calls the scaler accepted for this version."""
        return self._activation.count

    @property
    def last_activation_error(self) -> str | None:
        return self._activation.last_error

    # -- taking and giving back a replica ---------------------------------------------------------

    def replica(
        self, application: str, deadline: float | None, clock: HoldClock | None = None
    ) -> ReplicaLease:
        """`async with queue.replica(...) as replica:` a replica with room for the block, given back at
        its end; the request is held (see `acquire`) while none has room, and the time held is added to
        `clock`."""
        return ReplicaLease(self, application, deadline, clock)

    def try_acquire(self) -> Replica | None:
        """A replica with room, at once, or None (then `acquire` holds the request)."""
        if self._waiters:
            return None  # FIFO: those already waiting go first
        replica = self._pick()
        if replica is not None:
            self._window.account(self.in_flight, 0)  # `_account`, inline on the hot path (none waits)
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
        return await self._wait(application, deadline)

    async def _wait(self, application: str, deadline: float | None) -> Replica:
        """Hold the request, which `try_acquire` just found no replica for (see `acquire`)."""
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
        self._activation.waiting()
        if not self.replicas:
            self._activation.wake()
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

    async def hold(self, application: str, deadline: float | None, clock: HoldClock | None) -> Replica:
        """Hold a request `try_acquire` just found no replica for (as `acquire` does), told to the hold
        observer (with its outcome) and added to `clock`."""
        if self._holds is not None:
            self._holds.hold_started(application, self.key)
        started = time.perf_counter()
        outcome = "ok"
        try:
            return await self._wait(application, deadline)
        except RouterError as exc:
            outcome = exc.reason
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            held = time.perf_counter() - started
            if self._holds is not None:
                self._holds.hold_ended(application, self.key, outcome, held)
            if clock is not None:
                clock.held_s += held

    def release(self, replica: Replica) -> None:
        """The request on `replica` finished (answered or failed)."""
        self._window.account(self.in_flight, len(self._waiters))  # `_account`, inline on the hot path
        replica.outstanding -= 1
        self.in_flight -= 1
        if self._waiters:
            self._drain()

    def take_out(self, replica: Replica, reason: str) -> None:
        """Stop sending to `replica` (it refused a connection); see `router.rotation`."""
        self._rotation.take_out(replica, reason)

    # -- what the scaler and the catalog tell -----------------------------------------------------

    def set_endpoints(self, endpoints: Sequence[Endpoint]) -> None:
        """The scaler's current list of ready replicas of this version."""
        self._rotation.set_endpoints(endpoints)

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
        return self._window.report(self.key, self.in_flight, len(self._waiters))

    def prewake(self) -> None:
        """Activate now if no replica is ready, without holding anything (a later pipeline stage)."""
        if not self.replicas:
            self._activation.wake(force=True)

    def set_limits(self, limits: Limits) -> None:
        if limits != self.limits:
            self.limits = limits
            self._drain()

    def close(self) -> None:
        self._activation.close()

    # -- inside -----------------------------------------------------------------------------------

    def _account(self) -> None:
        """Call before every change of the counts (see `LoadWindow`)."""
        self._window.account(self.in_flight, len(self._waiters))

    def _pick(self) -> Replica | None:
        """The replica with room and the fewest outstanding requests (ties taken in turn)."""
        replicas = self._rotation.replicas
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

    def _rotated(self) -> None:
        if self._rotation.replicas:
            self._activation.done()
            self._drain()
        elif self._waiters:
            self._activation.wake()

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
            self._activation.settled()

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


class ReplicaLease:
    """The scoped use of one replica (`VersionQueue.replica`): taken on entry, given back on exit."""

    __slots__ = ("_queue", "_application", "_deadline", "_clock", "_replica")

    def __init__(
        self, queue: VersionQueue, application: str, deadline: float | None, clock: HoldClock | None
    ) -> None:
        self._queue = queue
        self._application = application
        self._deadline = deadline
        self._clock = clock

    async def __aenter__(self) -> Replica:
        replica = self._queue.try_acquire()
        if replica is None:
            replica = await self._queue.hold(self._application, self._deadline, self._clock)
        self._replica = replica
        return replica

    async def __aexit__(self, *exc_info: object) -> None:
        self._queue.release(self._replica)

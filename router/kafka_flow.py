"""How much a Kafka application may send at once, and how much demand its backlog makes.

- `capacity_of`: the messages an application's partitions may have in the data plane at once, the
  variant's capacity (`container_concurrency` x ready replicas, summed over a stage's variants; the
  smallest stage decides). A replica with no hard limit counts `unlimited_per_replica`. Zero while a
  stage has no ready replica: the edge then pauses its partitions rather than holding requests.
- `backlog_demand`: the backlog (messages in the partitions not yet handed to the data plane) as demand
  per version for the load reports, split over each stage's variants by weight, with a ceiling so that
  the scaler, which plans `target_concurrency x utilization` per replica, asks for no more replicas than
  the router has partitions (more could not be kept busy by in-order partitions). The dispatcher applies
  the ceiling to the whole reported demand, in-flight messages included (`router.dispatch.Waiting`).
- `Capacity`: the counting semaphore whose size follows `capacity_of`.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable

from router.dispatch import Waiting
from router.routing import Route, Version

SCALER_UTILIZATION = 0.7
"""The share of `target_concurrency` the scaler plans a replica to carry (its default, Knative's)."""


def capacity_of(route: Route, ready: Callable[[Version], int], unlimited_per_replica: int) -> int:
    """Messages the application may have in flight: the smallest stage's ready capacity."""
    smallest: int | None = None
    for stage in route.stages:
        room = 0
        for version in stage.variants:
            per_replica = version.limits.container_concurrency or unlimited_per_replica
            room += per_replica * ready(version)
        smallest = room if smallest is None else min(smallest, room)
    return smallest or 0


def backlog_demand(
    route: Route, backlog: int, partitions: int, utilization: float = SCALER_UTILIZATION
) -> dict[str, Waiting]:
    """The backlog as demand per version key (see the module docstring); {} when there is none. Each
    version's ceiling is the demand at which the scaler plans one replica per partition."""
    demand: dict[str, Waiting] = {}
    if backlog <= 0 or partitions <= 0:
        return demand
    for stage in route.stages:
        previous = 0.0
        total = stage.cumulative[-1] if stage.cumulative else 0.0
        for version, cumulative in zip(stage.variants, stage.cumulative, strict=True):
            weight, previous = cumulative - previous, cumulative
            share = Waiting(
                count=math.ceil(backlog * weight / total),
                ceiling=max(1, math.floor(partitions * version.limits.target_concurrency * utilization)),
            )
            demand[version.key] = demand[version.key] + share if version.key in demand else share
    return demand


class Capacity:
    """A semaphore whose size can change (`set_limit`); waiters are served first come, first served."""

    def __init__(self, limit: int = 0) -> None:
        self.limit = limit
        self.taken = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> None:
        if self.taken < self.limit and not self._waiters:
            self.taken += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot as it was cancelled: give it back
            else:
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass
            raise

    def release(self) -> None:
        self.taken -= 1
        self._wake()

    def set_limit(self, limit: int) -> None:
        self.limit = limit
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.taken < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.taken += 1
                waiter.set_result(None)

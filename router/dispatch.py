"""Capacity-aware dispatch: a `VersionQueue` per version this router routes to, and the scaler's word on
which replicas of each are ready.

A queue is made for every version of each routing table (so that channels to its replicas open before
the first request) and keeps the limits of the version's deployment config; a table that drops a route
fails the requests held for it at once. The queues' loads go to the scaler in its load reports, with the
Kafka edge's backlog added to the queued requests of the versions it is waiting for (`add_backlog`), up to
the backlog's ceiling: the in-flight average the report already holds counts against it, so a backlog
never asks for more replicas than its partitions can keep busy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from router.activation import Activate
from router.channels import ChannelPool
from router.load_window import VersionLoad
from router.rotation import Endpoint
from router.routing import RoutingTable, Version
from router.version_queue import HoldObserver, VersionQueue


@dataclass(frozen=True, slots=True)
class Waiting:
    """Requests waiting outside a version's queue (a Kafka backlog's share): `count` of them, reported as
    queued only while the version's reported demand stays under `ceiling`."""

    count: int
    ceiling: int

    def __add__(self, other: Waiting) -> Waiting:
        return Waiting(self.count + other.count, self.ceiling + other.ceiling)


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
        holds: HoldObserver | None = None,
    ) -> None:
        self._pool = pool
        self._holds = holds
        self._activate = activate
        self._on_demand = on_demand
        self._quarantine_s = quarantine_s
        self._reactivate_interval_s = reactivate_interval_s
        self._queues: dict[str, VersionQueue] = {}
        self._endpoints: dict[str, list[Endpoint]] = {}
        self._backlogs: list[Callable[[], Iterable[tuple[str, Waiting]]]] = []
        self._endpoint_listeners: list[Callable[[], None]] = []

    def add_backlog(self, backlog: Callable[[], Iterable[tuple[str, Waiting]]]) -> None:
        """Requests waiting outside the queues (a Kafka backlog) as (version key, share) pairs, read at
        every load report, summed per version and reported as queued."""
        self._backlogs.append(backlog)

    def on_endpoints(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every change of the scaler's endpoints."""
        self._endpoint_listeners.append(listener)

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
                holds=self._holds,
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
        for listener in self._endpoint_listeners:
            listener()

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
        waiting: dict[str, Waiting] = {}
        for backlog in self._backlogs:
            for key, share in backlog():
                waiting[key] = waiting[key] + share if key in waiting else share
        for queue in self._queues.values():
            load = queue.load()
            outside = waiting.get(queue.key)
            if outside is not None and outside.count > 0:
                # any backlog wakes a version at zero; past that, only up to the ceiling
                room = max(0, outside.ceiling - load.demand) if load.demand else max(1, outside.ceiling)
                if extra := min(outside.count, room):
                    load = VersionLoad(load.version_key, load.in_flight, load.queued + extra)
            if load.demand or queue.reported_demand:
                loads.append(load)
            queue.reported_demand = load.demand > 0
        return loads

    def close(self) -> None:
        for queue in self._queues.values():
            queue.close()

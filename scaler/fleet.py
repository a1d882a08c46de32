"""The replicas of every version, and the reconciler that makes the running set match the desired count.

All bookkeeping happens synchronously in the event loop, so the decision to start a replica and its
appearance as `starting` are one step: any number of concurrent activations of a cold version start
exactly one replica. Each replica's life (launch, wait ready, watch health and exit, drain, stop) is one
task of `scaler/lifecycle.py`, which reports back here.

Rules: a starting replica is never stopped for being idle (only ready ones are chosen for scale-down);
a replica that exits or stops answering is removed from the endpoints at once and replaced if still
wanted; failing starts are retried with a growing delay. Scale-down (or the version leaving the
catalog) takes the replica out of the endpoint set and publishes that first; its lifecycle then drains
and stops it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from scaler.changes import Changes
from scaler.errors import UnknownVersionError
from scaler.lifecycle import Lifecycle, Owner, Replica, Status
from scaler.metrics import Metrics, ReplicaCounts
from scaler.probe import FIRST_INTERVAL_S, MAX_INTERVAL_S
from scaler.runtimes.base import ReplicaHandle, ReplicaSpec, Runtime

log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.5
RETRY_MAX_S = 30.0


@dataclass(eq=False)
class VersionReplicas:
    """A version's spec, desired count and replicas."""

    spec: ReplicaSpec
    desired: int = 0
    replicas: dict[int, Replica] = field(default_factory=dict)
    failures: int = 0
    retry_at: float = 0.0
    retry_timer: asyncio.TimerHandle | None = None
    retired: bool = False
    first_ready_at: float | None = None
    """When the version last went from no ready replica to one (an activation's replica is serving)."""

    def count(self, status: Status) -> int:
        return sum(1 for r in self.replicas.values() if r.status is status)

    def count_starting(self) -> int:
        return self.count(Status.STARTING)

    @property
    def active(self) -> int:
        """Replicas that are starting or ready (not on their way out)."""
        return sum(1 for r in self.replicas.values() if r.status is not Status.STOPPING)


@dataclass(frozen=True)
class Endpoint:
    replica_id: str
    address: str


@dataclass(frozen=True)
class VersionView:
    """What the routers see of a version: its ready endpoints and counts."""

    version_key: str
    ready: tuple[Endpoint, ...]
    starting: int
    desired: int


class Fleet:
    """All versions' replicas on one runtime backend."""

    def __init__(
        self,
        runtime: Runtime,
        metrics: Metrics,
        *,
        ready_timeout_s: float = 120.0,
        health_interval_s: float = 1.0,
        health_failures: int = 3,
        keep_on_exit: bool = False,
        drain_settle_s: float = 0.2,
        drain_timeout_s: float = 30.0,
        probe_first_interval_s: float = FIRST_INTERVAL_S,
        probe_max_interval_s: float = MAX_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime = runtime
        self.metrics = metrics
        self.keep_on_exit = keep_on_exit
        self.clock = clock
        self.lifecycle = Lifecycle(
            runtime,
            metrics,
            ready_timeout_s=ready_timeout_s,
            health_interval_s=health_interval_s,
            health_failures=health_failures,
            drain_settle_s=drain_settle_s,
            drain_timeout_s=drain_timeout_s,
            probe_first_interval_s=probe_first_interval_s,
            probe_max_interval_s=probe_max_interval_s,
            clock=clock,
        )
        self.changes = Changes()
        self._versions: dict[str, VersionReplicas] = {}
        self._numbers = itertools.count(1)
        self._closing = False
        metrics.watch_replicas(self.counts)

    # --- the catalog's versions ----------------------------------------------------------------------

    def set_spec(self, spec: ReplicaSpec) -> None:
        """Add a version, or update what new replicas of it are started with."""
        version = self._versions.get(spec.version_key)
        if version is None:
            self._versions[spec.version_key] = VersionReplicas(spec)
            self.changes.notify()
            return
        version.spec = spec
        if version.retired:
            version.retired = False
            self.changes.notify()
            self._reconcile(version)

    def retire(self, version_key: str) -> None:
        """The version left the catalog: stop all its replicas and stop listing it."""
        version = self._versions.get(version_key)
        if version is None or version.retired:
            return
        log.info("version %s left the catalog; stopping its %d replicas", version_key, version.active)
        version.retired = True
        version.desired = 0
        for replica in list(version.replicas.values()):
            self._stop(version, replica)
        self._forget_if_empty(version)
        self.changes.notify()

    def keys(self) -> list[str]:
        return [key for key, version in self._versions.items() if not version.retired]

    def version(self, version_key: str) -> VersionReplicas:
        version = self._versions.get(version_key)
        if version is None or version.retired:
            raise UnknownVersionError(version_key)
        return version

    # --- decisions -------------------------------------------------------------------------------------

    def activate(self, version_key: str, count: int) -> bool:
        """Make sure the version is waking: start `count` replicas if none is ready or starting.

        Returns True when this call started replicas. Idempotent and synchronous, hence race-free.
        """
        version = self.version(version_key)
        if version.active > 0 or self._closing:
            return False
        version.desired = max(version.desired, count)
        started = self._reconcile(version)
        self.changes.notify()
        return started > 0

    def set_desired(self, version_key: str, desired: int) -> None:
        version = self.version(version_key)
        if desired != version.desired:
            log.info("%s: desired %d -> %d", version_key, version.desired, desired)
            version.desired = desired
            self.changes.notify()
        self._reconcile(version)

    # --- what the routers see --------------------------------------------------------------------------

    def views(self) -> list[VersionView]:
        return [self.view(key) for key in sorted(self.keys())]

    def view(self, version_key: str) -> VersionView:
        version = self.version(version_key)
        ready = sorted(
            (r for r in version.replicas.values() if r.status is Status.READY and r.handle is not None),
            key=lambda r: r.number,
        )
        return VersionView(
            version_key=version_key,
            ready=tuple(Endpoint(r.handle.replica_id, r.handle.address) for r in ready if r.handle),
            starting=version.count(Status.STARTING),
            desired=version.desired,
        )

    def counts(self) -> Iterable[ReplicaCounts]:
        return [ReplicaCounts(v.version_key, v.desired, len(v.ready), v.starting) for v in self.views()]

    # --- start and end ---------------------------------------------------------------------------------

    def adopt(self, handles: Iterable[ReplicaHandle]) -> list[ReplicaHandle]:
        """Take over replicas a previous scaler left running; return those of unknown versions (to stop)."""
        unknown = []
        for handle in handles:
            version = self._versions.get(handle.version_key)
            if version is None or version.retired:
                unknown.append(handle)
                continue
            replica = Replica(
                number=next(self._numbers), requested_at=self.clock(), handle=handle, adopted=True
            )
            replica.launched_at = replica.requested_at
            version.replicas[replica.number] = replica
            version.desired = max(version.desired, version.active)
            self._run_lifecycle(version, replica, f"replica-{handle.replica_id}")
            log.info("adopting replica %s of %s at %s", handle.replica_id, handle.version_key, handle.address)
        self.changes.notify()
        return unknown

    async def close(self) -> None:
        """Stop every replica (or leave them running when `keep_on_exit`) and wait for the lifecycles."""
        self._closing = True
        tasks = []
        for version in self._versions.values():
            if version.retry_timer is not None:
                version.retry_timer.cancel()
            for replica in version.replicas.values():
                if replica.task is not None:
                    replica.task.cancel()
                    tasks.append(replica.task)
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- the reconciler --------------------------------------------------------------------------------

    def _reconcile(self, version: VersionReplicas) -> int:
        """Start or stop replicas so that the active count moves to `desired`; return how many started."""
        if self._closing or version.retired:
            return 0
        active = version.active
        if active < version.desired:
            now = self.clock()
            if now < version.retry_at:
                self._retry_later(version, version.retry_at - now)
                return 0
            missing = version.desired - active
            for _ in range(missing):
                self._launch(version)
            return missing
        if active > version.desired:
            # Only ready replicas are stopped; a starting one is never stopped for being idle.
            ready = [r for r in version.replicas.values() if r.status is Status.READY]
            ready.sort(key=lambda r: r.ready_at or 0.0, reverse=True)
            for replica in ready[: active - version.desired]:
                self._stop(version, replica)
        return 0

    def _retry_later(self, version: VersionReplicas, delay: float) -> None:
        if version.retry_timer is None:
            loop = asyncio.get_running_loop()
            version.retry_timer = loop.call_later(delay, self._retry, version)

    def _retry(self, version: VersionReplicas) -> None:
        version.retry_timer = None
        self._reconcile(version)

    def _launch(self, version: VersionReplicas) -> None:
        replica = Replica(number=next(self._numbers), requested_at=self.clock())
        version.replicas[replica.number] = replica
        self._run_lifecycle(version, replica, f"replica-{version.spec.version_key}-{replica.number}")
        self.changes.notify()

    def _run_lifecycle(self, version: VersionReplicas, replica: Replica, name: str) -> None:
        owner = Owner(
            spec=lambda: version.spec,
            ready=lambda ready: self._ready(version, ready),
            failed=lambda stage: self._failed(version, stage),
            leaving=lambda: self._leaving(version),
            keeps_replicas=lambda: self._closing and self.keep_on_exit,
        )
        replica.task = asyncio.create_task(self.lifecycle.run(replica, owner), name=name)
        replica.task.add_done_callback(lambda _: self._lifecycle_done(version, replica))

    def _stop(self, version: VersionReplicas, replica: Replica) -> None:
        """Take the replica out of rotation now (published at once); its lifecycle task then stops it."""
        if replica.status is Status.STOPPING:
            return
        was_starting = replica.status is Status.STARTING
        replica.status = Status.STOPPING
        replica.stop_requested.set()
        if was_starting and replica.task is not None:
            replica.task.cancel()
        self.changes.notify()

    def _leaving(self, version: VersionReplicas) -> None:
        self.changes.notify()
        # A replacement (if still wanted) starts while the leaving one is being cleaned up.
        self._reconcile(version)

    def _lifecycle_done(self, version: VersionReplicas, replica: Replica) -> None:
        """Forget the replica once its lifecycle ended (even one cancelled before it ran), then reconcile."""
        replica.status = Status.STOPPING
        version.replicas.pop(replica.number, None)
        self.changes.notify()
        self._forget_if_empty(version)
        self._reconcile(version)

    def _ready(self, version: VersionReplicas, replica: Replica) -> None:
        version.failures = 0
        version.retry_at = 0.0
        if version.count(Status.READY) == 1:
            version.first_ready_at = replica.ready_at
        self.changes.notify()
        self._reconcile(version)

    def _failed(self, version: VersionReplicas, stage: str) -> None:
        self.metrics.failures.labels(self.metrics.backend, version.spec.version_key, stage).inc()
        version.failures += 1
        if version.failures > 1:
            delay = min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** (version.failures - 2))
            version.retry_at = self.clock() + delay
            log.info(
                "%s: %d failures in a row; next start in %.1f s",
                version.spec.version_key,
                version.failures,
                delay,
            )

    def _forget_if_empty(self, version: VersionReplicas) -> None:
        if version.retired and not version.replicas:
            self._versions.pop(version.spec.version_key, None)

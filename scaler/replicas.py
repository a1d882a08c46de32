"""The replicas of every version, and the reconciler that makes the running set match the desired count.

A replica is `starting` from the moment it is asked for until it answers ModelReady, then `ready` (an
endpoint in the routers' rotation), then `stopping`. All bookkeeping happens synchronously in the event
loop, so the decision to start a replica and its appearance as `starting` are one step: any number of
concurrent activations of a cold version start exactly one replica. Each replica has one lifecycle task
(launch, wait ready, watch health and exit, stop).

Rules: a starting replica is never stopped for being idle (only ready ones are chosen for scale-down);
a replica that exits or stops answering is removed from the endpoints at once and replaced if still
wanted; failing starts are retried with a growing delay.

Drain: scale-down (or the version leaving the catalog) takes the replica out of the endpoint set and
publishes that first; after `drain_settle_s` (time for the routers to hear of it) the fleet asks the
runtime itself how many requests it still serves (`hydro.v1.RuntimeInfo/GetStats`, `in_flight`) until
none, for at most `drain_timeout_s`; only then is the replica stopped. A stuck replica is stopped when
the bound passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from scaler.changes import Changes
from scaler.errors import ReplicaError, UnknownVersionError
from scaler.metrics import ColdStart, Metrics, ReplicaCounts
from scaler.probe import FIRST_INTERVAL_S, MAX_INTERVAL_S, ReadyProbe
from scaler.runtimes.base import ReplicaHandle, ReplicaSpec, Runtime

log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.5
RETRY_MAX_S = 30.0


class Status(enum.Enum):
    STARTING = "starting"
    READY = "ready"
    STOPPING = "stopping"


@dataclass(eq=False)
class Replica:
    """One replica of a version, from the request to start it until it is stopped."""

    number: int
    requested_at: float
    status: Status = Status.STARTING
    handle: ReplicaHandle | None = None
    launched_at: float | None = None
    ready_at: float | None = None
    adopted: bool = False
    stop_requested: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


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
        self.ready_timeout_s = ready_timeout_s
        self.health_interval_s = health_interval_s
        self.health_failures = health_failures
        self.keep_on_exit = keep_on_exit
        self.drain_settle_s = drain_settle_s
        self.drain_timeout_s = drain_timeout_s
        self.probe_first_interval_s = probe_first_interval_s
        self.probe_max_interval_s = probe_max_interval_s
        self.clock = clock
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
        replica.task = asyncio.create_task(self._lifecycle(version, replica), name=name)
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

    async def _lifecycle(self, version: VersionReplicas, replica: Replica) -> None:
        key = version.spec.version_key
        probe: ReadyProbe | None = None
        stage = "start"
        try:
            if replica.handle is None:
                replica.handle = await _launch_shielded(self.runtime, version.spec)
                replica.launched_at = self.clock()
            handle = replica.handle
            probe = ReadyProbe(
                handle.address,
                handle.model,
                first_interval_s=self.probe_first_interval_s,
                max_interval_s=self.probe_max_interval_s,
            )
            timeout = self.ready_timeout_s if not replica.adopted else min(self.ready_timeout_s, 10.0)
            await self.runtime.wait_ready(handle, probe, timeout)
            if replica.status is not Status.STARTING:
                return
            self._mark_ready(version, replica)
            stage = "serve"
            reason = await self._watch(replica, handle, probe)
            if reason is not None:
                log.warning("replica %s of %s left rotation: %s", handle.replica_id, key, reason)
                self._failed(version, stage)
            else:
                stage = "drain"
                await self._drain(handle, probe)
        except ReplicaError as exc:
            log.warning("replica of %s failed to %s: %s", key, stage, exc)
            self._failed(version, stage)
        except Exception:
            log.exception("replica of %s failed to %s", key, stage)
            self._failed(version, stage)
        finally:
            replica.status = Status.STOPPING
            self.changes.notify()
            # A replacement (if still wanted) starts while this one is being cleaned up.
            self._reconcile(version)
            await self._release(replica, probe)

    def _lifecycle_done(self, version: VersionReplicas, replica: Replica) -> None:
        """Forget the replica once its lifecycle ended (even one cancelled before it ran), then reconcile."""
        replica.status = Status.STOPPING
        version.replicas.pop(replica.number, None)
        self.changes.notify()
        self._forget_if_empty(version)
        self._reconcile(version)

    def _mark_ready(self, version: VersionReplicas, replica: Replica) -> None:
        assert replica.handle is not None and replica.launched_at is not None
        now = self.clock()
        replica.status = Status.READY
        replica.ready_at = now
        version.failures = 0
        version.retry_at = 0.0
        if version.count(Status.READY) == 1:
            version.first_ready_at = now
        if not replica.adopted:
            start = ColdStart(
                version_key=version.spec.version_key,
                replica_id=replica.handle.replica_id,
                launch_s=replica.launched_at - replica.requested_at,
                ready_s=now - replica.launched_at,
                backend_phases=replica.handle.phases,
            )
            self.metrics.observe_start(start)
            log.info(
                "cold start of %s: replica %s ready at %s in %.3f s (%s)",
                start.version_key,
                start.replica_id,
                replica.handle.address,
                start.total_s,
                start.describe(),
            )
        self.changes.notify()
        self._reconcile(version)

    async def _watch(self, replica: Replica, handle: ReplicaHandle, probe: ReadyProbe) -> str | None:
        """Wait until the replica must leave rotation: a reason if it failed, None if it was told to stop."""
        stop = asyncio.ensure_future(replica.stop_requested.wait())
        exited = asyncio.ensure_future(self.runtime.wait_exited(handle))
        unhealthy = asyncio.ensure_future(self._health(probe))
        tasks = {stop, exited, unhealthy}
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if stop.done():
                return None
            if exited.done():
                return f"exited ({exited.result()})"
            return unhealthy.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _drain(self, handle: ReplicaHandle, probe: ReadyProbe) -> None:
        """Out of rotation already: wait until the runtime serves no request, at most `drain_timeout_s`.

        A runtime that cannot tell (gone, or older than `RuntimeInfo`) three times in a row is stopped.
        """
        began = self.clock()
        deadline = began + self.drain_timeout_s
        # Routers may still send what they picked just before they heard of the removal.
        await asyncio.sleep(min(self.drain_settle_s, self.drain_timeout_s))
        outcome = "drained"
        unanswered = 0
        while True:
            remaining = deadline - self.clock()
            in_flight = await probe.in_flight(timeout=max(0.05, min(1.0, remaining)))
            unanswered = unanswered + 1 if in_flight is None else 0
            if in_flight is None and unanswered < 3 and self.clock() < deadline:
                await asyncio.sleep(0.05)
                continue
            if in_flight is None:
                outcome = "unknown"
                log.info(
                    "replica %s of %s does not tell its requests in flight; stopping it",
                    handle.replica_id,
                    handle.version_key,
                )
                break
            if in_flight == 0:
                break
            if self.clock() >= deadline:
                outcome = "timeout"
                log.warning(
                    "replica %s of %s still serves %d request(s) after the %g s drain bound; stopping it",
                    handle.replica_id,
                    handle.version_key,
                    in_flight,
                    self.drain_timeout_s,
                )
                break
            await asyncio.sleep(min(0.05, max(0.0, deadline - self.clock())))
        self.metrics.observe_drain(self.clock() - began, outcome)

    async def _health(self, probe: ReadyProbe) -> str:
        failed = 0
        while True:
            await asyncio.sleep(self.health_interval_s)
            if await probe.check(timeout=self.health_interval_s):
                failed = 0
                continue
            failed += 1
            if failed >= self.health_failures:
                return f"did not answer ModelReady {failed} times in a row"

    async def _release(self, replica: Replica, probe: ReadyProbe | None) -> None:
        """Close the probe and stop the replica (unless the scaler exits and keeps its replicas)."""
        if probe is not None:
            await probe.close()
        handle = replica.handle
        if handle is None or (self._closing and self.keep_on_exit):
            return
        try:
            await self.runtime.stop(handle)
        except Exception:
            log.exception("stopping replica %s of %s failed", handle.replica_id, handle.version_key)
        else:
            log.info("stopped replica %s of %s", handle.replica_id, handle.version_key)

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


async def _launch_shielded(runtime: Runtime, spec: ReplicaSpec) -> ReplicaHandle:
    """`runtime.start`, finished even if we are cancelled, so that no replica is launched untracked."""
    launch = asyncio.ensure_future(runtime.start(spec))
    try:
        return await asyncio.shield(launch)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            handle = await launch
            await runtime.stop(handle)
        raise

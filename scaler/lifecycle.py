"""One replica's life: launch, wait until ready, watch its health and exit, drain, stop.

A replica is `starting` from the moment it is asked for until it answers ModelReady, then `ready` (an
endpoint in the routers' rotation), then `stopping`. Each replica has one lifecycle task; what the task
learns (ready, failed, leaving) it tells the fleet that runs it (`scaler/fleet.py`), which keeps the
version's bookkeeping and starts a replacement if one is still wanted.

Drain: a replica told to stop (scale-down, or its version leaving the catalog) is already out of the
endpoint set, and the fleet has published that; after `drain_settle_s` (time for the routers to hear
of it) the lifecycle asks the runtime itself how many requests it still serves
(`hydro.v1.RuntimeInfo/GetStats`, `in_flight`) until none, for at most `drain_timeout_s`; only then is
the replica stopped. A stuck replica is stopped when the bound passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from scaler.errors import ReplicaError
from scaler.metrics import ColdStart, Metrics
from scaler.probe import FIRST_INTERVAL_S, MAX_INTERVAL_S, ReadyProbe
from scaler.runtimes.base import ReplicaHandle, ReplicaSpec, Runtime

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class Owner:
    """What a lifecycle tells, and asks, the fleet about the replica's version."""

    spec: Callable[[], ReplicaSpec]
    """The version's current spec (what a new replica is launched with)."""
    ready: Callable[[Replica], None]
    """The replica just turned ready (its status and `ready_at` are set)."""
    failed: Callable[[str], None]
    """The replica failed at this stage (`start`, `serve`, `drain`)."""
    leaving: Callable[[], None]
    """The replica is on its way out (its status is `stopping`); it is being stopped now."""
    keeps_replicas: Callable[[], bool]
    """True when the scaler exits and leaves its replicas running for the next one."""


class Lifecycle:
    """Runs replicas on `runtime`, probing and timing them as configured."""

    def __init__(
        self,
        runtime: Runtime,
        metrics: Metrics,
        *,
        ready_timeout_s: float = 120.0,
        health_interval_s: float = 1.0,
        health_failures: int = 3,
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
        self.drain_settle_s = drain_settle_s
        self.drain_timeout_s = drain_timeout_s
        self.probe_first_interval_s = probe_first_interval_s
        self.probe_max_interval_s = probe_max_interval_s
        self.clock = clock

    async def run(self, replica: Replica, owner: Owner) -> None:
        """The replica's whole life; ends once it is stopped (or left running, when the owner keeps it)."""
        spec = owner.spec()
        key = spec.version_key
        probe: ReadyProbe | None = None
        stage = "start"
        try:
            if replica.handle is None:
                replica.handle = await _launch_shielded(self.runtime, spec)
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
            self._mark_ready(replica, key)
            owner.ready(replica)
            stage = "serve"
            reason = await self._watch(replica, handle, probe)
            if reason is not None:
                log.warning("replica %s of %s left rotation: %s", handle.replica_id, key, reason)
                owner.failed(stage)
            else:
                stage = "drain"
                await self._drain(handle, probe)
        except ReplicaError as exc:
            log.warning("replica of %s failed to %s: %s", key, stage, exc)
            owner.failed(stage)
        except Exception:
            log.exception("replica of %s failed to %s", key, stage)
            owner.failed(stage)
        finally:
            replica.status = Status.STOPPING
            # A replacement (if still wanted) starts while this one is being cleaned up.
            owner.leaving()
            await self._release(replica, probe, owner)

    def _mark_ready(self, replica: Replica, version_key: str) -> None:
        """Ready: into the rotation, and its cold start measured (an adopted replica had none)."""
        assert replica.handle is not None and replica.launched_at is not None
        now = self.clock()
        replica.status = Status.READY
        replica.ready_at = now
        if replica.adopted:
            return
        start = ColdStart(
            version_key=version_key,
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

    async def _release(self, replica: Replica, probe: ReadyProbe | None, owner: Owner) -> None:
        """Close the probe and stop the replica (unless the scaler exits and keeps its replicas)."""
        if probe is not None:
            await probe.close()
        handle = replica.handle
        if handle is None or owner.keeps_replicas():
            return
        try:
            await self.runtime.stop(handle)
        except Exception:
            log.exception("stopping replica %s of %s failed", handle.replica_id, handle.version_key)
        else:
            log.info("stopped replica %s of %s", handle.replica_id, handle.version_key)


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

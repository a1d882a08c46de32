"""The scaling loop: catalog, load reports and activations in; a desired replica count per version out.

It owns the I/O side of the decision: it keeps each version's policy state, builds the `PolicyContext`
every tick from the routers' load and the version's activity, and hands the result to the fleet.
Activation from zero is the fast path and never waits for a tick. With a `Prepuller`, every version
a snapshot lists has its image fetched ahead of its first cold start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

from protos.hydro.v1 import catalog_pb2
from scaler.catalog_watch import CatalogView, CatalogWatch
from scaler.errors import CatalogUnavailableError, InvalidRequestError, UnknownVersionError
from scaler.fleet import Fleet, VersionView
from scaler.lifecycle import Status
from scaler.load import LoadBoard
from scaler.metrics import Metrics
from scaler.policy import (
    DEFAULT_UTILIZATION,
    PolicyContext,
    PolicyState,
    ScalingConfig,
    activation_target,
    decide,
)
from scaler.prepull import Prepuller
from scaler.runtimes.base import ReplicaSpec

log = logging.getLogger(__name__)

_DEFAULTS = ScalingConfig()


class Autoscaler:
    """Applies the catalog to the fleet, takes activations and load reports, and decides every tick."""

    def __init__(
        self,
        fleet: Fleet,
        catalog: CatalogWatch,
        load: LoadBoard,
        metrics: Metrics,
        *,
        tick_s: float = 2.0,
        utilization: float = DEFAULT_UTILIZATION,
        catalog_wait_s: float = 1.0,
        startup_wait_s: float = 5.0,
        prepuller: Prepuller | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fleet = fleet
        self.catalog = catalog
        self.load = load
        self.metrics = metrics
        self.tick_s = tick_s
        self.utilization = utilization
        self.catalog_wait_s = catalog_wait_s
        self.startup_wait_s = startup_wait_s
        self.prepuller = prepuller
        self.clock = clock
        self.started = asyncio.Event()
        """Set once the first snapshot is applied and leftover replicas are adopted or removed."""
        self._configs: dict[str, ScalingConfig] = {}
        self._states: dict[str, PolicyState] = {}
        self._activity_at: dict[str, float] = {}
        self._activated_at: dict[str, float] = {}
        self._adopted: dict[str, tuple[int, float]] = {}
        """Per version: replicas adopted at start-up, kept until then (monotonic) at least."""
        catalog.on_change(self.apply_catalog)

    async def run(self) -> None:
        """Adopt what a previous scaler left running once the catalog is known, then decide every tick."""
        await self._adopt_leftovers()
        self.started.set()
        while True:
            try:
                self.tick()
            except Exception:
                log.exception("a scaling tick failed; trying again next tick")
            await asyncio.sleep(self.tick_s)

    # --- inputs --------------------------------------------------------------------------------------

    def apply_catalog(self, view: CatalogView) -> None:
        """Track the versions of a new snapshot; retire the ones it no longer lists."""
        for key, version in view.versions.items():
            config = view.config_of(version)
            self._configs[key] = scaling_config(config, self.utilization)
            spec = _replica_spec(version, config)
            self.fleet.set_spec(spec)
            if self.prepuller is not None:
                self.prepuller.want(spec)
        for key in self.fleet.keys():
            if key not in view.versions:
                self.fleet.retire(key)
                self.metrics.forget_version(key)
                for table in (
                    self._configs,
                    self._states,
                    self._activity_at,
                    self._activated_at,
                    self._adopted,
                ):
                    table.pop(key, None)
                self.load.forget(key)

    async def activate(self, version_key: str) -> VersionView:
        """Make sure the version is waking; start `initial_scale` replicas at once if it is at zero."""
        if not version_key:
            raise InvalidRequestError("version_key is empty; expected '{model}:{version}'")
        await self._wait_started()
        if version_key not in self._configs:
            await self.catalog.wait_for_version(version_key, self.catalog_wait_s)
            if version_key not in self._configs:
                raise UnknownVersionError(version_key)
        now = self.clock()
        self._activity_at[version_key] = now
        if self.fleet.activate(version_key, activation_target(self._configs[version_key])):
            self._activated_at[version_key] = now
            self.metrics.activations.labels(version_key).inc()
            log.info("activating %s from zero", version_key)
        return self.fleet.view(version_key)

    def record_load(self, router_id: str, concurrency: Mapping[str, float]) -> None:
        """Take one router's report; a version with demand and no replica at all is activated at once."""
        now = self.clock()
        for key in self.load.record(router_id, concurrency, now):
            if key in self._configs and self.started.is_set() and self.fleet.version(key).active == 0:
                self._activity_at[key] = now
                if self.fleet.activate(key, activation_target(self._configs[key])):
                    self._activated_at[key] = now
                    log.info("activating %s from zero: router %s reports demand", key, router_id)

    # --- the decision --------------------------------------------------------------------------------

    def tick(self) -> None:
        """Decide every version's replica count once."""
        now = self.clock()
        self.load.expire(now)
        for key in self.fleet.keys():
            config = self._configs.get(key)
            if config is None:
                continue
            state = self._states.get(key, PolicyState())
            decision = decide(
                PolicyContext(
                    now=now,
                    config=config,
                    observed=self.load.concurrency(key, now),
                    ready=self.fleet.version(key).count(Status.READY),
                    last_demand_at=self._last_demand_at(key, now),
                    activated_at=self._activated_at.get(key),
                    state=state,
                )
            )
            if decision.panicking != state.panicking:
                log.info(
                    "%s: %s panic mode (panic-window average %.1f)",
                    key,
                    "entering" if decision.panicking else "leaving",
                    decision.panic_average,
                )
            self._states[key] = decision.state
            self.metrics.set_panicking(key, decision.panicking)
            self.fleet.set_desired(key, max(decision.desired, self._adopted_floor(key, now)))

    def _adopted_floor(self, key: str, now: float) -> int:
        """The replicas adopted at start-up, until every live router has had time to report its load.

        A restarted scaler knows no load at first: deciding on that would scale adopted replicas down
        only to start them again once the routers' reports arrive (they reconnect with a backoff).
        Routers report every second and a report counts for `load.ttl_s`, so after that long the
        decision has the same inputs as before the restart.
        """
        adopted = self._adopted.get(key)
        if adopted is None:
            return 0
        count, until = adopted
        if now >= until:
            del self._adopted[key]
            return 0
        return count

    def _last_demand_at(self, key: str, now: float) -> float | None:
        """The latest sign of demand: a load report, an Activate, a replica turning ready.

        A version with a replica still starting counts as in demand now, so the grace period of a cold
        start begins when its replica is ready to serve the requests that woke it.
        """
        version = self.fleet.version(key)
        if version.count_starting() > 0:
            return now
        times = [self.load.last_demand_at(key), self._activity_at.get(key), version.first_ready_at]
        known = [t for t in times if t is not None]
        return max(known) if known else None

    # --- start-up ------------------------------------------------------------------------------------

    async def _adopt_leftovers(self) -> None:
        view = await self.catalog.wait_view(timeout=float("inf"))
        assert view is not None
        existing = await self.fleet.runtime.list_existing()
        unknown = self.fleet.adopt(existing)
        now = self.clock()
        for handle in existing:
            if handle not in unknown:
                self._activity_at[handle.version_key] = now
                count, _ = self._adopted.get(handle.version_key, (0, 0.0))
                self._adopted[handle.version_key] = (count + 1, now + self.load.ttl_s)
        for handle in unknown:
            log.info(
                "removing leftover replica %s of %s (not in the catalog)",
                handle.replica_id,
                handle.version_key,
            )
            try:
                await self.fleet.runtime.stop(handle)
            except Exception:
                log.exception("removing leftover replica %s failed", handle.replica_id)

    async def _wait_started(self) -> None:
        if self.started.is_set():
            return
        try:
            async with asyncio.timeout(self.startup_wait_s):
                await self.started.wait()
        except TimeoutError:
            raise CatalogUnavailableError(
                f"the scaler has no catalog snapshot yet: the control plane's catalog at "
                f"{self.catalog.address} has not answered; retry shortly"
            ) from None


def scaling_config(config: catalog_pb2.DeploymentConfig | None, utilization: float) -> ScalingConfig:
    """The decision's knobs from a snapshot's deployment config; unset (zero) knobs take the defaults."""
    if config is None:
        return ScalingConfig(utilization=utilization)
    return ScalingConfig(
        min_replicas=max(0, config.min_replicas),
        max_replicas=max(0, config.max_replicas),
        target_concurrency=config.target_concurrency
        if config.target_concurrency > 0
        else _DEFAULTS.target_concurrency,
        scale_to_zero_grace_s=max(0.0, config.scale_to_zero_grace_s),
        stable_window_s=config.stable_window_s if config.stable_window_s > 0 else _DEFAULTS.stable_window_s,
        panic_window_pct=min(100.0, config.panic_window_pct)
        if config.panic_window_pct > 0
        else _DEFAULTS.panic_window_pct,
        panic_threshold_pct=config.panic_threshold_pct
        if config.panic_threshold_pct > 0
        else _DEFAULTS.panic_threshold_pct,
        initial_scale=max(0, config.initial_scale),
        utilization=utilization,
        # Knative refuses rates of 1 or less; a snapshot without them (0) takes the default.
        max_scale_up_rate=config.max_scale_up_rate
        if config.max_scale_up_rate > 1
        else _DEFAULTS.max_scale_up_rate,
        max_scale_down_rate=config.max_scale_down_rate
        if config.max_scale_down_rate > 1
        else _DEFAULTS.max_scale_down_rate,
    )


def _replica_spec(
    version: catalog_pb2.ModelVersion, config: catalog_pb2.DeploymentConfig | None
) -> ReplicaSpec:
    return ReplicaSpec(
        version_key=version.key,
        model=version.model,
        version=version.version,
        image=version.image,
        artifact_url=version.artifact_url,
        cpu=config.cpu if config is not None else 1.0,
        memory_mb=config.memory_mb if config is not None else 512,
    )

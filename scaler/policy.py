"""The scaling decision for one version: a pure function of an explicit context, with time passed in.

Each tick the autoscaler builds a `PolicyContext` (the concurrency the routers report right now, the
replicas ready to serve, when demand was last seen, the knobs of the version's deployment config and the
state the previous decision returned) and calls `decide`. No clock, no I/O: the rules below read the
same in a unit test. They follow Knative's KPA.

1. The observed concurrency (in-flight + queued, summed over routers) is recorded as a sample, and
   averaged over two windows: the stable window (`stable_window_s`, 60 s) and the panic window, its
   `panic_window_pct` (10%). Each average asks for
   ceil(average / (target_concurrency x utilization)) replicas (utilization 70%).
2. Panic: when the panic window asks for `panic_threshold_pct` (200%) of the ready replicas or more
   (no ready replica counts as one), the version panics. While panicking it takes the larger of the
   two asks and never scales down, not even to zero after the grace period; it leaves panic once a
   whole stable window has passed without the condition. By then the stable window has forgotten the
   samples that raised it, so a held burst that has been served leaves no replicas behind: the count
   comes down at the scale-down rate to what the remaining load needs.
3. While there is demand (now, or within `scale_to_zero_grace_s`, 30 s) at least one replica runs;
   once no demand has been seen for the whole grace period the version heads to zero.
4. For one stable window after an activation from zero, `initial_scale` replicas are kept while there
   is demand.
5. Rates, per decision (one tick): at most `max_scale_up_rate` (1000x) the ready replicas, and at least
   the ready replicas divided by `max_scale_down_rate` (2x), rounded down so that one replica may go to
   zero.
6. Bounds last: `min_replicas`, and `max_replicas` unless it is 0 (no limit).

Activation from zero does not wait for a decision: `activation_target` says how many replicas the fast
path starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

# Knative's defaults.
DEFAULT_UTILIZATION = 0.7
DEFAULT_STABLE_WINDOW_S = 60.0
DEFAULT_PANIC_WINDOW_PCT = 10.0
DEFAULT_PANIC_THRESHOLD_PCT = 200.0
DEFAULT_MAX_SCALE_UP_RATE = 1000.0
DEFAULT_MAX_SCALE_DOWN_RATE = 2.0


@dataclass(frozen=True)
class ScalingConfig:
    """The knobs of a deployment config that the decision reads (DESIGN.md "Deployment configs")."""

    min_replicas: int = 0
    max_replicas: int = 0
    target_concurrency: float = 100.0
    scale_to_zero_grace_s: float = 30.0
    stable_window_s: float = DEFAULT_STABLE_WINDOW_S
    panic_window_pct: float = DEFAULT_PANIC_WINDOW_PCT
    panic_threshold_pct: float = DEFAULT_PANIC_THRESHOLD_PCT
    initial_scale: int = 1
    utilization: float = DEFAULT_UTILIZATION
    max_scale_up_rate: float = DEFAULT_MAX_SCALE_UP_RATE
    max_scale_down_rate: float = DEFAULT_MAX_SCALE_DOWN_RATE

    @property
    def panic_window_s(self) -> float:
        """The panic window in seconds: `panic_window_pct` of the stable window."""
        return self.stable_window_s * self.panic_window_pct / 100.0


@dataclass(frozen=True)
class Sample:
    """The concurrency observed across all routers at one moment."""

    at: float
    concurrency: float


@dataclass(frozen=True)
class PolicyState:
    """What one decision hands to the next."""

    samples: tuple[Sample, ...] = ()
    """The samples inside the stable window, oldest first."""
    panic_seen_at: float | None = None
    """The last decision at which the panic condition held; None when not panicking."""
    panic_floor: int = 0
    """The most replicas asked for during the current panic (it never scales down)."""

    @property
    def panicking(self) -> bool:
        return self.panic_seen_at is not None


@dataclass(frozen=True)
class PolicyContext:
    """Everything a decision depends on."""

    now: float
    config: ScalingConfig
    observed: float
    """In-flight + queued requests summed over the routers whose reports are still fresh."""
    ready: int = 0
    """Replicas ready to serve now: the capacity that panic and the rates compare with."""
    last_demand_at: float | None = None
    """The last time demand was seen: a load report with requests, an Activate, a first ready replica."""
    activated_at: float | None = None
    """The last activation from zero, if any."""
    state: PolicyState = field(default_factory=PolicyState)


@dataclass(frozen=True)
class Decision:
    """The replica count a version should run, why, and the state for the next decision."""

    desired: int
    stable_average: float
    panic_average: float
    panicking: bool
    idle: bool
    state: PolicyState


def decide(ctx: PolicyContext) -> Decision:
    """Decide how many replicas the version should run at `ctx.now`."""
    config = ctx.config
    state = record_sample(ctx.state, Sample(ctx.now, max(0.0, ctx.observed)), config.stable_window_s)
    stable_average = window_average(state.samples, ctx.now - config.stable_window_s)
    panic_average = window_average(state.samples, ctx.now - config.panic_window_s)
    stable = replicas_for(stable_average, config)
    burst = replicas_for(panic_average, config)
    state = update_panic(state, ctx.now, over_panic_threshold(burst, ctx.ready, config), config)
    idle = is_idle(ctx)
    desired = max(stable, burst) if state.panicking else stable
    desired = apply_demand_floor(desired, idle)
    desired = apply_initial_scale(desired, ctx, idle)
    desired = apply_rates(desired, ctx.ready, config)
    desired, state = apply_panic_floor(desired, state)
    desired = apply_bounds(desired, config)
    return Decision(
        desired=desired,
        stable_average=stable_average,
        panic_average=panic_average,
        panicking=state.panicking,
        idle=idle,
        state=state,
    )


def activation_target(config: ScalingConfig) -> int:
    """How many replicas an activation from zero starts: `initial_scale` (at least one), within bounds."""
    return max(1, apply_bounds(max(1, config.initial_scale), config))


def record_sample(state: PolicyState, sample: Sample, window_s: float) -> PolicyState:
    """Add `sample` and forget the samples that fell out of the window ending at it."""
    horizon = sample.at - window_s
    kept = tuple(s for s in state.samples if s.at > horizon and s.at < sample.at)
    return replace(state, samples=(*kept, sample))


def window_average(samples: tuple[Sample, ...], horizon: float) -> float:
    """The mean concurrency of the samples taken after `horizon` (0 without samples)."""
    inside = [s.concurrency for s in samples if s.at > horizon]
    if not inside:
        return 0.0
    return sum(inside) / len(inside)


def replicas_for(average: float, config: ScalingConfig) -> int:
    """Replicas needed to carry `average` concurrent requests at the planned utilization."""
    per_replica = max(config.target_concurrency, 1e-9) * config.utilization
    # Round away float noise first, so that exactly 7.0 / 0.7 asks for 10 replicas, not 11.
    return max(0, math.ceil(round(average / per_replica, 9)))


def over_panic_threshold(burst: int, ready: int, config: ScalingConfig) -> bool:
    """True when the panic window asks for `panic_threshold_pct` of the ready replicas (at least one)."""
    return burst * 100.0 >= config.panic_threshold_pct * max(1, ready)


def update_panic(state: PolicyState, now: float, over: bool, config: ScalingConfig) -> PolicyState:
    """Enter or extend panic while the condition holds; leave it after a stable window without it."""
    if over:
        return replace(state, panic_seen_at=now)
    if state.panic_seen_at is not None and now - state.panic_seen_at >= config.stable_window_s:
        return replace(state, panic_seen_at=None, panic_floor=0)
    return state


def is_idle(ctx: PolicyContext) -> bool:
    """True once no demand has been seen for the whole scale-to-zero grace period."""
    if ctx.observed > 0:
        return False
    if ctx.last_demand_at is None:
        return True
    return ctx.now - ctx.last_demand_at >= ctx.config.scale_to_zero_grace_s


def apply_demand_floor(desired: int, idle: bool) -> int:
    """Never below one replica while there is demand; zero once idle for the grace period."""
    return 0 if idle else max(1, desired)


def apply_initial_scale(desired: int, ctx: PolicyContext, idle: bool) -> int:
    """Keep `initial_scale` replicas for a stable window after an activation, while there is demand."""
    if idle or ctx.activated_at is None:
        return desired
    if ctx.now - ctx.activated_at >= ctx.config.stable_window_s:
        return desired
    return max(desired, ctx.config.initial_scale)


def apply_rates(desired: int, ready: int, config: ScalingConfig) -> int:
    """Limit one decision's change relative to the ready replicas (no ready replica counts as one)."""
    capacity = max(1, ready)
    most = math.ceil(capacity * max(1.0, config.max_scale_up_rate))
    fewest = math.floor(capacity / max(1.0, config.max_scale_down_rate))
    return min(max(desired, fewest), most)


def apply_panic_floor(desired: int, state: PolicyState) -> tuple[int, PolicyState]:
    """While panicking, never ask for fewer replicas than earlier in the same panic."""
    if not state.panicking:
        return desired, state
    desired = max(desired, state.panic_floor)
    return desired, replace(state, panic_floor=desired)


def apply_bounds(desired: int, config: ScalingConfig) -> int:
    """Clamp to `min_replicas` and, unless it is 0 (no limit), `max_replicas`."""
    desired = max(desired, config.min_replicas)
    if config.max_replicas > 0:
        desired = min(desired, config.max_replicas)
    return desired

"""The scaling decision for one version: a pure function of an explicit context, with time passed in.

Each tick the autoscaler builds a `PolicyContext` (the concurrency the routers report right now, when
demand was last seen, the knobs of the version's deployment config and the state the previous decision
returned) and calls `decide`. No clock, no I/O: the rules below read the same in a unit test.

1. The observed concurrency (in-flight + queued, summed over routers) is recorded as a sample; the
   average over the stable window drives the count:
   desired = ceil(average / (target_concurrency x utilization)).
2. While there is demand (now, or within `scale_to_zero_grace_s`) at least one replica runs; once no
   demand has been seen for the whole grace period the version goes to zero.
3. For one stable window after an activation from zero, `initial_scale` replicas are kept while there is
   demand.
4. Bounds last: `min_replicas`, and `max_replicas` unless it is 0 (no limit).

Activation from zero does not wait for a decision: `activation_target` says how many replicas the fast
path starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

# Knative's default: plan replicas to run at 70% of their target concurrency.
DEFAULT_UTILIZATION = 0.7


@dataclass(frozen=True)
class ScalingConfig:
    """The knobs of a deployment config that the decision reads (DESIGN.md "Deployment configs")."""

    min_replicas: int = 0
    max_replicas: int = 0
    target_concurrency: float = 100.0
    scale_to_zero_grace_s: float = 30.0
    stable_window_s: float = 60.0
    initial_scale: int = 1
    utilization: float = DEFAULT_UTILIZATION


@dataclass(frozen=True)
class Sample:
    """The concurrency observed across all routers at one moment."""

    at: float
    concurrency: float


@dataclass(frozen=True)
class PolicyState:
    """What one decision hands to the next: the samples inside the stable window."""

    samples: tuple[Sample, ...] = ()


@dataclass(frozen=True)
class PolicyContext:
    """Everything a decision depends on."""

    now: float
    config: ScalingConfig
    observed: float
    """In-flight + queued requests summed over the routers whose reports are still fresh."""
    last_demand_at: float | None = None
    """The last time demand was seen: a load report with requests, an Activate, a first ready replica."""
    activated_at: float | None = None
    """The last activation from zero, if any."""
    state: PolicyState = field(default_factory=PolicyState)


@dataclass(frozen=True)
class Decision:
    """The replica count a version should run, why, and the state for the next decision."""

    desired: int
    average: float
    idle: bool
    state: PolicyState


def decide(ctx: PolicyContext) -> Decision:
    """Decide how many replicas the version should run at `ctx.now`."""
    state = record_sample(ctx.state, Sample(ctx.now, max(0.0, ctx.observed)), ctx.config.stable_window_s)
    average = window_average(state)
    idle = is_idle(ctx)
    desired = replicas_for(average, ctx.config)
    desired = apply_demand_floor(desired, idle)
    desired = apply_initial_scale(desired, ctx, idle)
    desired = apply_bounds(desired, ctx.config)
    return Decision(desired=desired, average=average, idle=idle, state=state)


def activation_target(config: ScalingConfig) -> int:
    """How many replicas an activation from zero starts: `initial_scale` (at least one), within bounds."""
    return max(1, apply_bounds(max(1, config.initial_scale), config))


def record_sample(state: PolicyState, sample: Sample, window_s: float) -> PolicyState:
    """Add `sample` and forget the samples that fell out of the window ending at it."""
    horizon = sample.at - window_s
    kept = tuple(s for s in state.samples if s.at > horizon and s.at < sample.at)
    return replace(state, samples=(*kept, sample))


def window_average(state: PolicyState) -> float:
    """The mean concurrency over the samples in the window (0 without samples)."""
    if not state.samples:
        return 0.0
    return sum(s.concurrency for s in state.samples) / len(state.samples)


def replicas_for(average: float, config: ScalingConfig) -> int:
    """Replicas needed to carry `average` concurrent requests at the planned utilization."""
    per_replica = max(config.target_concurrency, 1e-9) * config.utilization
    # Round away float noise first, so that exactly 7.0 / 0.7 asks for 10 replicas, not 11.
    return max(0, math.ceil(round(average / per_replica, 9)))


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


def apply_bounds(desired: int, config: ScalingConfig) -> int:
    """Clamp to `min_replicas` and, unless it is 0 (no limit), `max_replicas`."""
    desired = max(desired, config.min_replicas)
    if config.max_replicas > 0:
        desired = min(desired, config.max_replicas)
    return desired

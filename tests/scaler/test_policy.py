"""The scaling decision with a plain clock: no I/O, no event loop, time passed in."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from protos.hydro.v1 import catalog_pb2
from scaler.autoscaler import scaling_config
from scaler.load import LoadBoard
from scaler.policy import (
    Decision,
    PolicyContext,
    PolicyState,
    ScalingConfig,
    activation_target,
    decide,
)
from tests.real_parts import DEPLOYMENT_CONFIG_DEFAULTS

FAST = ScalingConfig(target_concurrency=10.0, scale_to_zero_grace_s=30.0, stable_window_s=60.0)
TICK = 2.0


@dataclass
class Version:
    """Drives `decide` tick by tick the way the autoscaler does, keeping the state between ticks.

    Unless a tick names its ready replicas, the replicas asked for by one decision are ready by the
    next (instant starts), so `ready` follows `desired`.
    """

    config: ScalingConfig = FAST
    state: PolicyState = field(default_factory=PolicyState)
    ready: int = 0
    last_demand_at: float | None = None
    activated_at: float | None = None

    def tick(self, now: float, observed: float, ready: int | None = None) -> Decision:
        if observed > 0:
            self.last_demand_at = now
        if ready is not None:
            self.ready = ready
        decision = decide(
            PolicyContext(
                now=now,
                config=self.config,
                observed=observed,
                ready=self.ready,
                last_demand_at=self.last_demand_at,
                activated_at=self.activated_at,
                state=self.state,
            )
        )
        self.state = decision.state
        self.ready = decision.desired
        return decision

    def run(self, start: float, end: float, observed: float) -> list[Decision]:
        """Tick every `TICK` seconds from `start` up to, not including, `end` at a constant load."""
        decisions = []
        now = start
        while now < end:
            decisions.append(self.tick(now, observed))
            now += TICK
        return decisions


# --- the windows and the formula -----------------------------------------------------------------


def test_no_demand_ever_means_zero_replicas() -> None:
    decision = Version().tick(now=100.0, observed=0)
    assert decision.desired == 0 and decision.idle and not decision.panicking


def test_desired_is_the_window_average_over_target_times_utilization() -> None:
    # 70 concurrent requests at target 10 and 70% utilization: exactly 10 replicas.
    assert Version(ready=10).tick(0.0, 70).desired == 10
    # 71 needs one more.
    assert Version(ready=10).tick(0.0, 71).desired == 11
    # A single request still needs one replica.
    assert Version().tick(0.0, 1).desired == 1
    # Utilization is a knob: at 100% the same 70 requests fit in 7 replicas.
    full = ScalingConfig(target_concurrency=10.0, utilization=1.0)
    assert Version(config=full, ready=7).tick(0.0, 70).desired == 7


def test_the_stable_window_averages_and_forgets_old_samples() -> None:
    version = Version(config=ScalingConfig(target_concurrency=10.0, stable_window_s=10.0), ready=10)
    for now in range(0, 10, 2):
        assert version.tick(float(now), 70).desired == 10
    # The window (0, 10] holds four samples of 70 and one of 0 (the sample at 0 fell out):
    # average 56 -> 8 replicas, not an instant drop to 1.
    drop = version.tick(10.0, 0)
    assert drop.stable_average == 56.0 and drop.desired == 8
    # Once the busy samples are older than the window the average is 0; the count falls by half a tick
    # to the one replica kept while demand was seen within the grace period.
    quiet = version.tick(20.0, 0)
    assert quiet.stable_average == 0 and quiet.desired == 4
    assert [version.tick(now, 0).desired for now in (22.0, 24.0, 26.0)] == [2, 1, 1]


def test_the_panic_window_is_a_tenth_of_the_stable_window_by_default() -> None:
    assert ScalingConfig().stable_window_s == 60.0 and ScalingConfig().panic_window_s == 6.0
    assert ScalingConfig(stable_window_s=30.0, panic_window_pct=20.0).panic_window_s == 6.0
    version = Version(ready=10)
    for now in range(0, 60, 2):
        version.tick(float(now), 7)
    # The panic window (54, 60] holds the samples at 56, 58 and 60; the stable window all thirty.
    decision = version.tick(60.0, 70)
    assert decision.panic_average == (7 + 7 + 70) / 3
    assert decision.stable_average == (29 * 7 + 70) / 30


# --- a burst at zero ---------------------------------------------------------------------------------


def test_a_held_burst_at_zero_scales_straight_to_its_count_and_back_after_the_windows() -> None:
    version = Version()
    # 200 requests held at zero, target 10: 200 / (10 x 0.7) = 28.6 -> 29 replicas at the first tick.
    first = version.tick(0.0, 200, ready=0)
    assert first.desired == 29 and first.panicking
    # The replicas take two ticks to start; the burst stays held meanwhile and the count does not grow.
    assert version.tick(2.0, 200, ready=0).desired == 29
    assert version.tick(4.0, 200, ready=0).desired == 29
    # At 6 s all 29 are ready and the burst is served. Panic holds the count for a stable window after
    # its condition last held (4 s); the burst is 4 s old then, so the grace period has passed too.
    held = version.run(6.0, 64.0, 0)
    assert all(d.desired == 29 and d.panicking for d in held)
    # Then down at the scale-down rate (half per tick) to zero: nothing of the burst is left.
    after = version.run(64.0, 76.0, 0)
    assert [d.desired for d in after] == [14, 7, 3, 1, 0, 0]
    assert not any(d.panicking for d in after)
    assert after[0].stable_average == 0.0


def test_a_served_burst_leaves_only_what_the_remaining_load_needs() -> None:
    version = Version()
    version.tick(0.0, 200, ready=0)
    version.tick(2.0, 200, ready=0)
    # Served at 4 s; a trickle of 3 concurrent requests carries on (one replica's worth).
    version.run(4.0, 62.0, 3)
    after = version.run(62.0, 200.0, 3)
    assert [d.desired for d in after[:5]] == [14, 7, 3, 1, 1]
    assert all(d.desired == 1 and not d.panicking for d in after[4:])


def test_activation_starts_at_least_one_replica_within_bounds() -> None:
    assert activation_target(ScalingConfig()) == 1
    assert activation_target(ScalingConfig(initial_scale=0)) == 1
    assert activation_target(ScalingConfig(initial_scale=5, max_replicas=2)) == 2
    assert activation_target(ScalingConfig(initial_scale=1, min_replicas=3)) == 3


def test_initial_scale_holds_for_a_stable_window_after_activation_while_there_is_demand() -> None:
    config = ScalingConfig(
        target_concurrency=10.0, initial_scale=3, stable_window_s=60.0, scale_to_zero_grace_s=30.0
    )
    assert activation_target(config) == 3
    version = Version(config=config, activated_at=0.0, last_demand_at=0.0)
    assert version.tick(1.0, 1).desired == 3
    assert version.tick(59.0, 1).desired == 3
    assert version.tick(61.0, 1).desired == 1
    # Without demand for the grace period the floor does not apply.
    assert version.tick(100.0, 0).desired == 0


# --- panic -------------------------------------------------------------------------------------------


def test_panic_starts_when_the_panic_window_asks_for_twice_the_ready_replicas() -> None:
    # Five ready replicas; the panic window alone drives the ask (stable window of one sample).
    below = Version(ready=5).tick(0.0, 63)  # 63 / 7 = 9 replicas: 180% of 5
    assert not below.panicking and below.desired == 9
    at = Version(ready=5).tick(0.0, 70)  # 10 replicas: 200% of 5
    assert at.panicking and at.desired == 10
    # The threshold is a knob.
    lenient = ScalingConfig(target_concurrency=10.0, panic_threshold_pct=300.0)
    assert not Version(config=lenient, ready=5).tick(0.0, 70).panicking
    # No ready replica counts as one: two replicas' worth of demand at zero panics.
    assert Version().tick(0.0, 14).panicking
    assert not Version().tick(0.0, 7).panicking


def test_panic_takes_the_larger_ask_never_scales_down_and_leaves_after_a_stable_window() -> None:
    version = Version(ready=2)
    # Steady: 14 concurrent requests on two replicas.
    assert {d.desired for d in version.run(0.0, 60.0, 14)} == {2}
    # A spike to 70: the panic window (3 samples) reads (14 + 14 + 70) / 3 = 32.7 -> 5 replicas,
    # 250% of the 2 ready; the stable window would still ask for 3.
    spike = version.tick(60.0, 70)
    assert spike.panicking and spike.desired == 5
    spike = version.tick(62.0, 70)  # (14 + 70 + 70) / 3 -> 8 replicas, 160% of 5: no new panic condition
    assert spike.panicking and spike.desired == 8
    assert version.state.panic_seen_at == 60.0
    # The spike ends at once; in panic the count only goes up or stays.
    calm = version.run(64.0, 120.0, 14)
    assert all(d.panicking and d.desired == 8 for d in calm)
    # A stable window after the condition last held (60 s), panic ends and the count comes down.
    leave = version.tick(120.0, 14)
    assert not leave.panicking and leave.desired == 4
    assert [version.tick(now, 14).desired for now in (122.0, 124.0)] == [2, 2]
    assert version.state.panic_floor == 0


def test_a_panic_condition_during_panic_extends_it() -> None:
    version = Version(ready=1)
    assert version.tick(0.0, 14).panicking
    assert version.tick(50.0, 40, ready=1).panicking  # 6 replicas asked of 1 ready: the condition again
    assert version.tick(100.0, 0).panicking  # 50 s after the last condition: still panicking
    assert not version.tick(110.0, 0).panicking


# --- rates and bounds --------------------------------------------------------------------------------


def test_scale_up_is_limited_to_1000_times_the_ready_replicas_per_tick() -> None:
    assert Version(ready=1).tick(0.0, 1_000_000).desired == 1000
    assert Version(ready=0).tick(0.0, 1_000_000).desired == 1000  # no ready replica counts as one
    assert Version(ready=2).tick(0.0, 1_000_000).desired == 2000
    slow = ScalingConfig(target_concurrency=10.0, max_scale_up_rate=2.0)
    version = Version(config=slow, ready=3)
    assert [version.tick(t, 700).desired for t in (0.0, 2.0, 4.0, 6.0)] == [6, 12, 24, 48]


def test_scale_down_is_limited_to_half_the_ready_replicas_per_tick() -> None:
    # A stable window of one tick, so that the average drops at once with the load.
    short = ScalingConfig(target_concurrency=10.0, stable_window_s=TICK)
    version = Version(config=short, ready=40)
    assert version.tick(0.0, 280).desired == 40  # 40 replicas' worth
    # The load drops to one replica's worth: at most half the ready replicas go per tick.
    downs = [d.desired for d in version.run(2.0, 16.0, 7)]
    assert downs == [20, 10, 5, 2, 1, 1, 1]
    # Going to zero is a scale-down too: 40 idle replicas halve tick by tick.
    idle = Version(config=short, ready=40, last_demand_at=-100.0)
    assert [d.desired for d in idle.run(0.0, 14.0, 0)] == [20, 10, 5, 2, 1, 0, 0]
    gentle = ScalingConfig(target_concurrency=10.0, max_scale_down_rate=4.0, scale_to_zero_grace_s=0.0)
    assert Version(config=gentle, ready=40).tick(0.0, 0).desired == 10


def test_the_rates_come_from_the_deployment_config_and_default_to_knatives() -> None:
    # A snapshot's deployment config carries the rates; the decision uses them, not constants.
    knobs = {**DEPLOYMENT_CONFIG_DEFAULTS, "target_concurrency": 10.0, "stable_window_s": TICK}
    config = scaling_config(
        catalog_pb2.DeploymentConfig(
            name="d", **{**knobs, "max_scale_up_rate": 3.0, "max_scale_down_rate": 4.0}
        ),
        utilization=0.7,
    )
    assert (config.max_scale_up_rate, config.max_scale_down_rate) == (3.0, 4.0)
    up = Version(config=config, ready=2)
    assert [up.tick(t, 7_000).desired for t in (0.0, 2.0, 4.0)] == [6, 18, 54]
    down = Version(config=replace(config, scale_to_zero_grace_s=0.0), ready=64, last_demand_at=-100.0)
    assert [down.tick(t, 0).desired for t in (0.0, 2.0, 4.0, 6.0)] == [16, 4, 1, 0]

    # Knative's defaults: from the control plane's defaults, and from a snapshot of an older control
    # plane that does not send the rates at all (proto3 zero).
    defaults = scaling_config(catalog_pb2.DeploymentConfig(name="d", **DEPLOYMENT_CONFIG_DEFAULTS), 0.7)
    older = scaling_config(catalog_pb2.DeploymentConfig(name="d", target_concurrency=10.0), 0.7)
    for config in (defaults, older):
        assert (config.max_scale_up_rate, config.max_scale_down_rate) == (1000.0, 2.0)
    assert scaling_config(None, 0.7).max_scale_down_rate == 2.0


def test_bounds_min_and_max_replicas() -> None:
    bounded = ScalingConfig(target_concurrency=10.0, min_replicas=2, max_replicas=4)
    assert Version(config=bounded).tick(0.0, 0).desired == 2
    assert Version(config=bounded).tick(0.0, 1000).desired == 4
    # The bounds hold in panic as well.
    panic = Version(config=bounded, ready=2).tick(0.0, 700)
    assert panic.panicking and panic.desired == 4
    # min_replicas keeps replicas through idleness.
    idle = Version(config=bounded, ready=2).tick(100.0, 0)
    assert idle.idle and idle.desired == 2
    # max_replicas 0 means no limit.
    unlimited = ScalingConfig(target_concurrency=10.0, max_replicas=0)
    assert Version(config=unlimited).tick(0.0, 1000).desired == 143


# --- scale to zero -----------------------------------------------------------------------------------


def test_scale_to_zero_only_after_the_grace_period_without_demand() -> None:
    version = Version(config=ScalingConfig(target_concurrency=10.0, scale_to_zero_grace_s=30.0))
    version.tick(0.0, 3)
    assert all(d.desired == 1 and not d.idle for d in version.run(2.0, 30.0, 0))
    assert version.tick(29.9, 0).desired == 1
    assert version.tick(30.0, 0).desired == 0
    # New demand wakes it again at once.
    assert version.tick(31.0, 1).desired == 1


def test_the_grace_period_is_a_knob() -> None:
    version = Version(config=ScalingConfig(target_concurrency=10.0, scale_to_zero_grace_s=5.0))
    version.tick(0.0, 3)
    assert version.tick(4.0, 0).desired == 1
    assert version.tick(5.0, 0).desired == 0


def test_never_below_one_replica_while_there_is_demand() -> None:
    version = Version(config=ScalingConfig(target_concurrency=1000.0, scale_to_zero_grace_s=0.0))
    decision = version.tick(0.0, 0.001)
    assert decision.desired == 1 and not decision.idle


def test_an_activation_counts_as_demand_for_the_grace_period() -> None:
    version = Version(last_demand_at=50.0)
    assert version.tick(60.0, 0).desired == 1
    assert version.tick(80.0, 0).desired == 0


# --- load across routers -----------------------------------------------------------------------------


def test_two_routers_reporting_at_once_are_summed() -> None:
    board = LoadBoard(ttl_s=5.0)
    board.record("router-a", {"m:1": 40.0}, now=0.0)
    board.record("router-b", {"m:1": 30.0, "other:2": 5.0}, now=0.5)
    observed = board.concurrency("m:1", now=1.0)
    assert observed == 70.0
    assert Version(ready=10).tick(1.0, observed).desired == 10
    # A router's newer report replaces its older one; it is not added to it.
    board.record("router-a", {"m:1": 10.0}, now=1.5)
    assert board.concurrency("m:1", now=2.0) == 40.0


def test_a_router_that_stops_reporting_stops_counting_after_the_timeout() -> None:
    board = LoadBoard(ttl_s=5.0)
    board.record("router-a", {"m:1": 70.0}, now=0.0)
    board.record("router-b", {"m:1": 7.0}, now=4.0)
    assert board.concurrency("m:1", now=4.9) == 77.0
    assert board.concurrency("m:1", now=5.0) == 7.0
    # The decision sees only the router still reporting (a one-tick stable window shows it at once).
    version = Version(config=ScalingConfig(target_concurrency=10.0, stable_window_s=TICK), ready=11)
    assert version.tick(4.9, board.concurrency("m:1", now=4.9)).desired == 11
    assert version.tick(6.9, board.concurrency("m:1", now=6.9)).desired == 5  # at most half per tick
    assert version.tick(8.9, board.concurrency("m:1", now=8.9)).desired == 2
    assert version.tick(10.9, board.concurrency("m:1", now=10.9)).desired == 1
    board.expire(now=5.0)
    assert board.routers(now=5.0) == ["router-b"]
    # When it stopped counting, the last demand seen is what the grace period runs from.
    assert board.last_demand_at("m:1") == 4.0


def test_negative_loads_count_as_zero() -> None:
    board = LoadBoard(ttl_s=5.0)
    assert board.record("r", {"m:1": -3.0}, now=0.0) == []
    assert board.concurrency("m:1", now=0.0) == 0.0
    assert board.last_demand_at("m:1") is None

"""The scaling decision with a plain clock: no I/O, no event loop, time passed in."""

from __future__ import annotations

from dataclasses import dataclass, field

from scaler.load import LoadBoard
from scaler.policy import (
    Decision,
    PolicyContext,
    PolicyState,
    ScalingConfig,
    activation_target,
    decide,
)

FAST = ScalingConfig(target_concurrency=10.0, scale_to_zero_grace_s=30.0, stable_window_s=60.0)


@dataclass
class Version:
    """Drives `decide` tick by tick the way the autoscaler does, keeping the state between ticks."""

    config: ScalingConfig = FAST
    state: PolicyState = field(default_factory=PolicyState)
    last_demand_at: float | None = None
    activated_at: float | None = None

    def tick(self, now: float, observed: float) -> Decision:
        if observed > 0:
            self.last_demand_at = now
        decision = decide(
            PolicyContext(
                now=now,
                config=self.config,
                observed=observed,
                last_demand_at=self.last_demand_at,
                activated_at=self.activated_at,
                state=self.state,
            )
        )
        self.state = decision.state
        return decision


def test_no_demand_ever_means_zero_replicas() -> None:
    assert Version().tick(now=100.0, observed=0).desired == 0


def test_desired_is_the_window_average_over_target_times_utilization() -> None:
    version = Version()
    # 70 concurrent requests at target 10 and 70% utilization: exactly 10 replicas.
    assert version.tick(0.0, 70).desired == 10
    # 71 needs one more.
    assert Version().tick(0.0, 71).desired == 11
    # A single request still needs one replica.
    assert Version().tick(0.0, 1).desired == 1


def test_the_stable_window_averages_and_forgets_old_samples() -> None:
    version = Version(config=ScalingConfig(target_concurrency=10.0, stable_window_s=10.0))
    for now in range(0, 10, 2):
        version.tick(float(now), 70)
    # The window (0, 10] holds four samples of 70 and one of 0 (the sample at 0 fell out):
    # average 56 -> 8 replicas, not an instant drop to 1.
    drop = version.tick(10.0, 0)
    assert drop.average == 56.0 and drop.desired == 8
    # Once the busy samples are older than the window the average is 0: one replica, since demand
    # was seen within the grace period.
    quiet = version.tick(20.0, 0)
    assert quiet.average == 0 and quiet.desired == 1


def test_scale_to_zero_only_after_the_grace_period_without_demand() -> None:
    version = Version(config=ScalingConfig(target_concurrency=10.0, scale_to_zero_grace_s=30.0))
    version.tick(0.0, 3)
    assert version.tick(29.9, 0).desired == 1
    assert version.tick(30.0, 0).desired == 0
    # New demand wakes it again at once.
    assert version.tick(31.0, 1).desired == 1


def test_never_below_one_replica_while_there_is_demand() -> None:
    version = Version(config=ScalingConfig(target_concurrency=1000.0, scale_to_zero_grace_s=0.0))
    decision = version.tick(0.0, 0.001)
    assert decision.desired == 1 and not decision.idle


def test_an_activation_counts_as_demand_for_the_grace_period() -> None:
    version = Version(last_demand_at=50.0)
    assert version.tick(60.0, 0).desired == 1
    assert version.tick(80.0, 0).desired == 0


def test_bounds_min_and_max_replicas() -> None:
    bounded = ScalingConfig(target_concurrency=10.0, min_replicas=2, max_replicas=4)
    assert Version(config=bounded).tick(0.0, 0).desired == 2
    assert Version(config=bounded).tick(0.0, 1000).desired == 4
    # max_replicas 0 means no limit.
    unlimited = ScalingConfig(target_concurrency=10.0, max_replicas=0)
    assert Version(config=unlimited).tick(0.0, 1000).desired == 143


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


def test_activation_starts_at_least_one_replica_within_bounds() -> None:
    assert activation_target(ScalingConfig(initial_scale=0)) == 1
    assert activation_target(ScalingConfig(initial_scale=5, max_replicas=2)) == 2
    assert activation_target(ScalingConfig(initial_scale=1, min_replicas=3)) == 3


def test_two_routers_reporting_at_once_are_summed() -> None:
    board = LoadBoard(ttl_s=5.0)
    board.record("router-a", {"m:1": 40.0}, now=0.0)
    board.record("router-b", {"m:1": 30.0, "other:2": 5.0}, now=0.5)
    observed = board.concurrency("m:1", now=1.0)
    assert observed == 70.0
    assert Version().tick(1.0, observed).desired == 10
    # A router's newer report replaces its older one; it is not added to it.
    board.record("router-a", {"m:1": 10.0}, now=1.5)
    assert board.concurrency("m:1", now=2.0) == 40.0


def test_a_router_that_stops_reporting_stops_counting_after_the_timeout() -> None:
    board = LoadBoard(ttl_s=5.0)
    board.record("router-a", {"m:1": 70.0}, now=0.0)
    board.record("router-b", {"m:1": 7.0}, now=4.0)
    assert board.concurrency("m:1", now=4.9) == 77.0
    assert board.concurrency("m:1", now=5.0) == 7.0
    board.expire(now=5.0)
    assert board.routers(now=5.0) == ["router-b"]
    # When it stopped counting, the last demand seen is what the grace period runs from.
    assert board.last_demand_at("m:1") == 4.0


def test_negative_loads_count_as_zero() -> None:
    board = LoadBoard(ttl_s=5.0)
    assert board.record("r", {"m:1": -3.0}, now=0.0) == []
    assert board.concurrency("m:1", now=0.0) == 0.0
    assert board.last_demand_at("m:1") is None

"""The dispatcher's rules, step by step: FIFO holds, capacity, quarantine, activation, load windows.

These drive `VersionQueue` directly in the test's loop. Its stubs point at loopback addresses that
nothing calls here: the queue only hands replicas out; forwarding is covered by the other tests.
"""

from __future__ import annotations

import asyncio

import pytest

from router.channels import ChannelPool
from router.dispatch import Dispatch, Waiting
from router.errors import ActivationError, DeadlineExceededError, HoldTimeoutError, QueueFullError
from router.routing import Limits, Version
from router.version_queue import VersionQueue
from wire.signature import Signature, TensorSpec


class Activations:
    """Records the Activate calls a queue makes; `fail_with` makes the next ones fail."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fail_with: str | None = None

    async def __call__(self, version_key: str) -> None:
        self.calls.append(version_key)
        if self.fail_with:
            raise ActivationError(self.fail_with)


@pytest.fixture
async def pool() -> ChannelPool:
    return ChannelPool(1024 * 1024)


def make_queue(
    pool: ChannelPool, activations: Activations, demand: list[str], **limits: float
) -> VersionQueue:
    return VersionQueue(
        "m:1",
        Limits(**limits),  # type: ignore[arg-type]
        pool,
        activate=activations,
        on_demand=demand.append,
        quarantine_s=0.2,
        reactivate_interval_s=10,
    )


async def test_held_requests_get_replicas_first_in_first_out(pool: ChannelPool) -> None:
    activations, demand = Activations(), list[str]()
    queue = make_queue(pool, activations, demand, container_concurrency=1)
    held = [asyncio.create_task(queue.acquire("app", None)) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert queue.queued == 3 and activations.calls == ["m:1"] and demand == ["m:1"]

    queue.set_endpoints([("r1", "127.0.0.1:1")])
    first = await held[0]
    assert not held[1].done() and queue.try_acquire() is None  # newcomers queue behind the held ones
    queue.release(first)
    second = await held[1]
    queue.release(second)
    third = await held[2]

    assert first is second is third
    assert queue.in_flight == 1 and queue.queued == 0
    await pool.close()


async def test_the_replica_with_fewest_outstanding_requests_is_chosen(pool: ChannelPool) -> None:
    queue = make_queue(pool, Activations(), [], container_concurrency=0)
    queue.set_endpoints([("r1", "127.0.0.1:1"), ("r2", "127.0.0.1:2")])

    taken = [queue.try_acquire() for _ in range(4)]
    assert [r.replica_id for r in taken if r] == ["r1", "r2", "r1", "r2"]
    queue.release(taken[1])  # type: ignore[arg-type]
    again = queue.try_acquire()

    assert again is not None and again.replica_id == "r2"
    await pool.close()


async def test_a_full_queue_refuses_and_a_hold_times_out(pool: ChannelPool) -> None:
    queue = make_queue(pool, Activations(), [], max_queue=1, hold_timeout_s=0.1)
    held = asyncio.create_task(queue.acquire("app", None))
    await asyncio.sleep(0)

    with pytest.raises(QueueFullError, match="max_queue"):
        await queue.acquire("app", None)
    with pytest.raises(HoldTimeoutError, match="'app'.*m:1.*0.1 s"):
        await held
    assert queue.queued == 0


async def test_a_deadline_shorter_than_the_hold_timeout_wins(pool: ChannelPool) -> None:
    queue = make_queue(pool, Activations(), [], hold_timeout_s=30)
    deadline = asyncio.get_running_loop().time() + 0.05

    with pytest.raises(DeadlineExceededError):
        await queue.acquire("app", deadline)
    assert queue.queued == 0


async def test_a_failed_activation_is_retried_and_quoted_when_the_hold_times_out(pool: ChannelPool) -> None:
    activations = Activations()
    activations.fail_with = "the scaler is down"
    queue = make_queue(pool, activations, [], hold_timeout_s=0.5)

    with pytest.raises(HoldTimeoutError, match="last activation error: the scaler is down"):
        await queue.acquire("app", None)
    assert len(activations.calls) >= 2  # backoff 0.1 s, 0.2 s, ...


async def test_a_refusing_replica_is_quarantined_then_back_in_rotation(pool: ChannelPool) -> None:
    queue = make_queue(pool, Activations(), [])
    queue.set_endpoints([("r1", "127.0.0.1:1"), ("r2", "127.0.0.1:2")])
    first = queue.try_acquire()
    assert first is not None
    queue.release(first)

    queue.take_out(first, "UNAVAILABLE: connection refused")
    assert [r.replica_id for r in queue.replicas] == ["r2"]
    queue.set_endpoints([("r1", "127.0.0.1:1"), ("r2", "127.0.0.1:2")])  # the scaler still lists it
    assert [r.replica_id for r in queue.replicas] == ["r2"]
    await asyncio.sleep(0.3)

    assert sorted(r.replica_id for r in queue.replicas) == ["r1", "r2"]
    assert queue.takeouts == 1
    await pool.close()


async def test_load_reports_count_any_request_in_the_window(pool: ChannelPool) -> None:
    queue = make_queue(pool, Activations(), [])
    queue.set_endpoints([("r1", "127.0.0.1:1")])
    assert queue.load().demand == 0

    replica = queue.try_acquire()
    assert replica is not None
    await asyncio.sleep(0.01)
    queue.release(replica)

    assert queue.load().in_flight == 1  # a request came and went since the last report
    assert queue.load().in_flight == 0
    await pool.close()


async def test_channels_close_when_the_scaler_stops_listing_their_address(pool: ChannelPool) -> None:
    dispatch = Dispatch(
        pool, activate=Activations(), on_demand=lambda key: None, quarantine_s=1, reactivate_interval_s=1
    )
    spec = TensorSpec("x", "FP64", (-1,))
    dispatch.queue(Version("m:1", "m", "1", Signature((spec,), (spec,)), Limits()))
    dispatch.set_endpoints({"m:1": [("r1", "127.0.0.1:1"), ("r2", "127.0.0.1:2")]})
    assert pool.addresses() == {"127.0.0.1:1", "127.0.0.1:2"}

    dispatch.set_endpoints({"m:1": [("r2", "127.0.0.1:2")]})

    assert pool.addresses() == {"127.0.0.1:2"}
    dispatch.close()
    await pool.close()


async def test_a_kafka_backlog_is_reported_up_to_its_ceiling_in_flight_included(pool: ChannelPool) -> None:
    """A version's report carries what is in flight (HTTP and Kafka alike); a backlog fills the rest of its
    ceiling and no more, so backlog plus Kafka work in flight never plans more replicas than there are
    partitions. Any backlog wakes a version at zero."""
    dispatch = Dispatch(
        pool, activate=Activations(), on_demand=lambda key: None, quarantine_s=1, reactivate_interval_s=1
    )
    spec = TensorSpec("x", "FP64", (-1,))
    busy = dispatch.queue(Version("busy:1", "busy", "1", Signature((spec,), (spec,)), Limits()))
    dispatch.queue(Version("idle:1", "idle", "1", Signature((spec,), (spec,)), Limits()))
    backlog = {"busy:1": Waiting(500, 21)}
    dispatch.add_backlog(lambda: backlog.items())

    def reported() -> dict[str, tuple[int, int]]:
        return {load.version_key: (load.in_flight, load.queued) for load in dispatch.loads()}

    assert reported() == {"busy:1": (0, 21)}
    busy.in_flight = 15
    assert reported() == {"busy:1": (15, 6)}
    busy.in_flight = 30
    assert reported() == {"busy:1": (30, 0)}
    backlog["idle:1"] = Waiting(1, 21)
    assert reported()["idle:1"] == (0, 1), "one message wakes a version at zero"
    await pool.close()

"""The Kafka edge's flow decisions, with plain routes and no broker: how much an application may send at
once, and how much demand its backlog makes for the scaler."""

from __future__ import annotations

import asyncio
import logging

import pytest

from router.dispatch import Waiting
from router.kafka_edge import KafkaOff
from router.kafka_flow import Capacity, backlog_demand, capacity_of
from router.routing import Limits, Route, RoutingTable, Stage, Version
from tests.router import models
from tests.router.kafka_parts import kafka_snapshot
from tests.router.standins import catalog_pb2
from wire.signature import Signature

SIGNATURE = Signature.from_dict({"inputs": models.X, "outputs": models.Y})


def _version(key: str, container_concurrency: int = 0, target: float = 100.0) -> Version:
    model, number = key.split(":")
    return Version(key, model, number, SIGNATURE, Limits(container_concurrency, target_concurrency=target))


def _route(*stages: list[tuple[Version, float]]) -> Route:
    built = []
    for variants in stages:
        total, cumulative = 0.0, []
        for _, weight in variants:
            total += weight
            cumulative.append(total)
        built.append(Stage(tuple(v for v, _ in variants), tuple(cumulative)))
    return Route("app", tuple(built))


def test_capacity_is_the_smallest_stage_of_container_concurrency_times_ready_replicas() -> None:
    a, b, c = _version("a:1", 4), _version("b:1", 2), _version("c:1")
    ready = {"a:1": 3, "b:1": 1, "c:1": 2}
    route = _route([(a, 80), (b, 20)], [(c, 100)])
    # Stage one: 4 x 3 + 2 x 1 = 14; stage two has no limit: 32 per replica x 2 = 64.
    assert capacity_of(route, lambda v: ready[v.key], unlimited_per_replica=32) == 14
    ready["c:1"] = 0
    assert capacity_of(route, lambda v: ready[v.key], unlimited_per_replica=32) == 0, (
        "a stage at zero stops all"
    )


def test_backlog_is_split_by_weight_with_a_ceiling_at_the_partitions() -> None:
    a, b = _version("a:1", target=10), _version("b:1", target=10)
    route = _route([(a, 75), (b, 25)])
    assert backlog_demand(route, 0, 3) == {}
    # 3 partitions x 10 per replica x 70% utilization: at 21 the scaler plans 3 replicas.
    assert backlog_demand(route, 8, 3) == {"a:1": Waiting(6, 21), "b:1": Waiting(2, 21)}
    assert backlog_demand(route, 100_000, 3) == {"a:1": Waiting(75_000, 21), "b:1": Waiting(25_000, 21)}


async def test_capacity_follows_its_limit_first_come_first_served() -> None:
    capacity = Capacity(1)
    await capacity.acquire()
    order: list[int] = []

    async def take(n: int) -> None:
        await capacity.acquire()
        order.append(n)

    waiters = [asyncio.create_task(take(n)) for n in range(3)]
    await asyncio.sleep(0.01)
    assert order == []
    capacity.set_limit(3)
    await asyncio.sleep(0.01)
    assert order == [0, 1]
    waiters[2].cancel()
    capacity.release()
    await asyncio.gather(*waiters, return_exceptions=True)
    assert capacity.taken == 2, "a cancelled waiter takes no slot"


def test_a_router_without_brokers_warns_once_that_it_ignores_kafka_bindings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    binding = catalog_pb2.KafkaBinding(
        source_topic="in", destination_topic="out", error_topic="err", consumer_group="g"
    )
    table = RoutingTable.from_snapshot(kafka_snapshot({"double": binding}))
    assert table.routes["double"].kafka is not None and table.routes["ab"].kafka is None
    off = KafkaOff()
    with caplog.at_level(logging.WARNING, logger="router.kafka_edge"):
        off.follow(table)
        off.follow(table)
    warnings = [r.getMessage() for r in caplog.records if r.name == "router.kafka_edge"]
    assert len(warnings) == 1 and "double" in warnings[0] and "HYDRO_KAFKA_BOOTSTRAP_SERVERS" in warnings[0]

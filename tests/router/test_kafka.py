"""The Kafka edge, told as its users' stories: an application that reads a topic, answers to another,
sends what it cannot serve to an error topic, and wakes from zero on the backlog.

A real broker (Tansu, `tests.kafka_broker`), the catalog and scaler stand-ins over real gRPC, and real
runtime processes as replicas (`tests.router.conftest`).
"""

from __future__ import annotations

import asyncio
import collections

import orjson
import pytest

from tests.kafka_broker import KafkaBroker
from tests.router.harness import RouterLog, StartRouter, gauge, wait_until
from tests.router.kafka_parts import Reader, Topics, kafka_snapshot, make_topics, metric, produce


def _request(i: int) -> tuple[bytes, bytes, list[tuple[str, bytes]], int]:
    """Message i: OIP JSON for the first thousand, the plain form after; most carry a request id."""
    x = [float(i), i + 0.5]
    if i < 1000:
        value = orjson.dumps(
            {"id": f"oip-{i}", "inputs": [{"name": "x", "datatype": "FP64", "shape": [2], "data": x}]}
        )
    else:
        value = orjson.dumps({"x": x})
    headers = [("trace", f"t{i}".encode())]
    if i % 10:
        headers.append(("x-request-id", f"req-{i}".encode()))
    return f"k{i}".encode(), value, headers, i % 3


async def test_two_thousand_messages_at_zero_wake_the_version_and_each_gets_one_answer_in_order(
    kafka_broker: KafkaBroker, start_router: StartRouter, router_log: RouterLog
) -> None:
    topics = await make_topics(kafka_broker, "double", 3)
    router = await start_router(
        snapshot=kafka_snapshot({"double": topics.binding("hydro.double")}),
        kafka_bootstrap_servers=kafka_broker.bootstrap_servers,
        router_load_report_interval_s=0.2,
    )
    assert router.scaler.replicas == [], "the version starts at zero"

    sent = await produce(kafka_broker, topics.source, [_request(i) for i in range(2000)])
    async with Reader(kafka_broker, topics.destination) as reader:
        answers = await reader.until(2000, timeout=40)
        answers = await reader.settle(0.5)

    # The backlog woke the version: reported as demand, and activated through the scaler.
    assert router.scaler.activations["double:1"] >= 1
    assert router.scaler.demand_reports("double:1"), "the backlog was never reported as demand"
    assert len(router.scaler.replicas) == 1

    # Exactly one answer per message, with its key, values, form, headers and request id.
    assert len(answers) == 2000, f"{len(answers) - 2000} answers too many"
    by_key = {answer.key: answer for answer in answers}
    assert len(by_key) == 2000
    lines = {line["request_id"]: line for line in router_log.lines() if line["transport"] == "kafka"}
    for message in sent:
        answer = by_key[message.key]
        i = message.index
        body = answer.json()
        if i < 1000:
            assert body["id"] == f"oip-{i}" and body["model_name"] == "double"
            assert body["outputs"] == [
                {"name": "y", "datatype": "FP64", "shape": [2], "data": [2.0 * i, 2 * i + 1.0]}
            ]
        else:
            assert body == {"y": [2.0 * i, 2 * i + 1.0]}
        assert answer.headers["trace"] == f"t{i}".encode()
        request_id = answer.headers["x-request-id"].decode()
        if i % 10:
            assert request_id == f"req-{i}"
        else:
            assert request_id and not request_id.startswith("req-"), "a generated id"
        line = lines[request_id]
        assert (line["application"], line["status"], line["versions"]) == ("double", "OK", ["double:1"])
        assert answer.partition == message.partition, "answers go to the partition numbered as the source's"

    # In input order within each partition.
    for partition in range(3):
        order = [int(a.key[1:]) for a in sorted(answers, key=lambda a: a.offset) if a.partition == partition]
        assert order == sorted(order) and len(order) > 600, partition

    metrics = await router.metrics()
    assert metric(metrics, "hydro_router_kafka_messages_answered_total", application="double") == 2000
    assert metric(metrics, "hydro_router_kafka_messages_received_total", application="double") == 2000
    assert metric(metrics, "hydro_router_kafka_duplicates_total", application="double") == 0
    assert metric(metrics, "hydro_router_kafka_rebalances_total", application="double") >= 1
    assert metric(metrics, "hydro_router_kafka_commit_duration_seconds_count", application="double") >= 1
    assert (
        metric(metrics, "hydro_router_requests_total", application="double", protocol="kafka", code="ok")
        == 2000
    )

    async def caught_up() -> bool:
        text = await router.metrics()
        return metric(text, "hydro_router_kafka_consumer_lag", application="double") == 0

    await wait_until(caught_up, 5, "the lag back to zero once every answer is acknowledged")

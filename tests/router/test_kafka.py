"""The Kafka edge, told as its users' stories: an application that reads a topic, answers to another,
sends what it cannot serve to an error topic, and wakes from zero on the backlog.

A real broker (Tansu, `tests.kafka_broker`), the catalog and scaler stand-ins over real gRPC, and real
runtime processes as replicas (`tests.router.conftest`).
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import orjson
import pyarrow as pa

from tests.kafka_broker import KafkaBroker
from tests.router.harness import RouterLog, StartRouter, gauge, wait_until
from tests.router.kafka_parts import Reader, Topics, kafka_snapshot, make_topics, metric, produce
from tests.sonar.harness import local_parts, start_sonar


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


# Bad messages of five kinds for `double` (x: FP64, shape [-1]), each with the words its error names.
_BAD = [
    (b"{not json", "not valid JSON", "invalid_input"),
    (orjson.dumps({"z": [1.0]}), "'z'", "invalid_input"),
    (orjson.dumps({"x": ["a", "b"]}), "FP64", "invalid_input"),
    (
        orjson.dumps({"inputs": [{"name": "x", "datatype": "FP64", "shape": [3], "data": [1.0, 2.0]}]}),
        "shape",
        "invalid_input",
    ),
    (
        orjson.dumps({"inputs": [{"name": "x", "datatype": "INT64", "shape": [1], "data": [1]}]}),
        "INT64",
        "invalid_input",
    ),
]


async def test_fifty_bad_messages_go_to_the_error_topic_with_reason_and_source_offsets(
    kafka_broker: KafkaBroker, start_router: StartRouter
) -> None:
    topics = await make_topics(kafka_broker, "bad", 3)
    failing = await make_topics(kafka_broker, "failing", 1)
    # Both applications send their failures to the same error topic.
    bindings = {
        "double": topics.binding("hydro.double"),
        "failing": Topics(failing.source, failing.destination, topics.error).binding("hydro.failing"),
    }
    router = await start_router(
        snapshot=kafka_snapshot(bindings),
        kafka_bootstrap_servers=kafka_broker.bootstrap_servers,
        router_kafka_retries=1,
        router_kafka_retry_backoff_s=0.05,
    )
    messages = []
    for i in range(140):  # every third message is bad, the others good around them
        headers = [("x-request-id", f"m-{i}".encode())]
        if i % 3 == 1 and i // 3 < 40:
            value = _BAD[(i // 3) % len(_BAD)][0]
        else:
            value = orjson.dumps({"x": [float(i)]})
        messages.append((f"k{i}".encode(), value, headers, i % 3))
    sent = await produce(kafka_broker, topics.source, messages)
    model_failures = await produce(
        kafka_broker,
        failing.source,
        [
            (f"f{i}".encode(), orjson.dumps({"x": [1.0]}), [("x-request-id", f"f-{i}".encode())], 0)
            for i in range(10)
        ],
    )

    async with (
        Reader(kafka_broker, topics.destination) as answers,
        Reader(kafka_broker, topics.error) as errors,
    ):
        good = await answers.until(100, timeout=40)
        bad = await errors.until(50, timeout=40)
        await answers.settle(0.3)
        await errors.settle(0.3)

    assert len(answers.records) == 100 and len(errors.records) == 50
    assert {r.key for r in good} == {m.key for m in sent if not (m.index % 3 == 1 and m.index // 3 < 40)}
    by_key = {r.key: r for r in bad}
    for message in sent:
        if not (message.index % 3 == 1 and message.index // 3 < 40):
            continue
        record = by_key[message.key]
        _, named, code = _BAD[(message.index // 3) % len(_BAD)]
        assert record.value == message.value, "the original value"
        assert named in record.headers["x-hydro-error"].decode(), record.headers["x-hydro-error"]
        assert record.headers["x-hydro-error-code"] == code.encode()
        assert record.headers["x-hydro-source-partition"] == str(message.partition).encode()
        assert record.headers["x-hydro-source-offset"] == str(message.offset).encode()
        assert record.headers["x-request-id"] == f"m-{message.index}".encode()
    for message in model_failures:
        record = by_key[message.key]
        assert "boom: this model cannot score anything" in record.headers["x-hydro-error"].decode()
        assert record.headers["x-hydro-error-code"] == b"model_failed"
        assert record.headers["x-hydro-source-offset"] == str(message.offset).encode()

    metrics = await router.metrics()
    assert (
        metric(
            metrics,
            "hydro_router_kafka_messages_to_error_topic_total",
            application="double",
            code="invalid_input",
        )
        == 40
    )
    assert (
        metric(
            metrics,
            "hydro_router_kafka_messages_to_error_topic_total",
            application="failing",
            code="model_failed",
        )
        == 10
    )
    # A model failure is tried once more before it goes to the error topic.
    assert (
        metric(
            metrics,
            "hydro_router_requests_total",
            application="failing",
            protocol="kafka",
            code="model_failed",
        )
        == 20
    )


async def test_while_no_replica_is_ready_the_backlog_is_demand_and_partitions_pause_instead_of_queueing(
    kafka_broker: KafkaBroker, start_router: StartRouter
) -> None:
    topics = await make_topics(kafka_broker, "cold", 3)
    router = await start_router(
        snapshot=kafka_snapshot({"double": topics.binding("hydro.double")}),
        kafka_bootstrap_servers=kafka_broker.bootstrap_servers,
        router_load_report_interval_s=0.2,
        scaler={"start_on_activate": False},  # the version stays at zero until the test starts a replica
    )
    await produce(
        kafka_broker,
        topics.source,
        [(f"k{i}".encode(), orjson.dumps({"x": [float(i)]}), [], i % 3) for i in range(300)],
    )

    await wait_until(
        lambda: router.scaler.activations["double:1"] >= 1, 10, "the backlog to activate the version"
    )
    await wait_until(lambda: router.scaler.demand_reports("double:1"), 5, "the backlog reported as demand")

    async def paused() -> bool:
        return (
            metric(await router.metrics(), "hydro_router_kafka_paused_partitions", application="double") == 3
        )

    await wait_until(paused, 5, "every partition paused while no replica is ready")
    assert await gauge(router, "hydro_router_queue_depth", "double:1") == 0, (
        "nothing piles up in the hold queue"
    )
    _, load = router.scaler.demand_reports("double:1")[-1]
    assert load.in_flight == 0 and load.queued >= 1
    # The demand of three partitions is capped so the scaler plans at most three replicas.
    assert all(load.queued <= 3 * 100 * 0.7 for _, load in router.scaler.demand_reports("double:1"))

    await router.scaler.start_replica("double:1")
    async with Reader(kafka_broker, topics.destination) as answers:
        await answers.until(300, timeout=30)
    assert sorted(int(r.key[1:]) for r in answers.records) == list(range(300))

    async def resumed_and_caught_up() -> bool:
        text = await router.metrics()
        return (
            metric(text, "hydro_router_kafka_paused_partitions", application="double") == 0
            and metric(text, "hydro_router_kafka_consumer_lag", application="double") == 0
        )

    await wait_until(resumed_and_caught_up, 5, "the partitions resumed and the lag at zero")
    await asyncio.sleep(0.5)
    _, last = router.scaler.reports[-1]
    assert all(v.queued == 0 for v in last.versions if v.version_key == "double:1"), "no demand is left"


async def test_the_request_id_of_a_kafka_message_is_the_one_in_the_request_line_and_in_sonars_sample(
    kafka_broker: KafkaBroker, start_router: StartRouter, router_log: RouterLog, tmp_path: Path
) -> None:
    topics = await make_topics(kafka_broker, "sampled", 1)
    snapshot = kafka_snapshot({"double": topics.binding("hydro.double")})
    store = tmp_path / "objects"
    sonar = await start_sonar(tmp_path, snapshot=snapshot, object_store_url=store.as_uri())
    try:
        router = await start_router(
            snapshot=snapshot,
            sonar_address=sonar.address,
            kafka_bootstrap_servers=kafka_broker.bootstrap_servers,
        )
        messages = [(b"given", orjson.dumps({"x": [1.0]}), [("x-request-id", b"kafka-given-1")], 0)]
        messages.append((b"none", orjson.dumps({"x": [2.0]}), [], 0))
        await produce(kafka_broker, topics.source, messages)
        async with Reader(kafka_broker, topics.destination) as answers:
            await answers.until(2, timeout=30)
        ids = {r.key: r.headers["x-request-id"].decode() for r in answers.records}
        assert ids[b"given"] == "kafka-given-1"

        async def all_acked() -> bool:
            text = await router.metrics()
            acked = metric(text, "hydro_router_sonar_records_total", outcome="acked")
            return acked == 2 == metric(text, "hydro_router_sonar_records_total", outcome="sampled")

        await wait_until(all_acked, 20, "Sonar acknowledging both sampled records")
    finally:
        assert await sonar.stop(signal.SIGTERM) == 0, sonar.log_text()
    sampled = pa.concat_tables(local_parts(store).values()).column("hydro_request_id").to_pylist()
    assert sorted(sampled) == sorted(ids.values())
    for request_id in ids.values():
        line = router_log.of(request_id)
        assert (line["transport"], line["application"], line["status"]) == ("kafka", "double", "OK")


async def test_a_binding_added_changed_and_removed_starts_and_stops_the_consumer(
    kafka_broker: KafkaBroker, start_router: StartRouter
) -> None:
    first = await make_topics(kafka_broker, "first", 1)
    second = await make_topics(kafka_broker, "second", 1)
    router = await start_router(
        snapshot=kafka_snapshot({}), kafka_bootstrap_servers=kafka_broker.bootstrap_servers
    )

    async def partitions() -> float:
        return metric(await router.metrics(), "hydro_router_kafka_partitions", application="double")

    await router.catalog.publish(kafka_snapshot({"double": first.binding("hydro.double")}, revision=2))
    await produce(kafka_broker, first.source, [(b"a", orjson.dumps({"x": [1.0]}), [], 0)])
    async with Reader(kafka_broker, first.destination) as answers:
        [answer] = await answers.until(1, timeout=30)
    assert answer.json() == {"y": [2.0]}

    # Moved to other topics: the first consumer leaves, a new one reads the new source.
    await router.catalog.publish(kafka_snapshot({"double": second.binding("hydro.double.2")}, revision=3))
    await produce(kafka_broker, first.source, [(b"stale", orjson.dumps({"x": [5.0]}), [], 0)])
    await produce(kafka_broker, second.source, [(b"b", orjson.dumps({"x": [3.0]}), [], 0)])
    async with Reader(kafka_broker, second.destination) as answers:
        [answer] = await answers.until(1, timeout=30)
    assert answer.key == b"b" and answer.json() == {"y": [6.0]}
    async with Reader(kafka_broker, first.destination) as answers:
        assert [r.key for r in await answers.settle(1.0)] == [b"a"], "the old source is no longer read"

    # Removed: no consumer left.
    await router.catalog.publish(kafka_snapshot({}, revision=4))

    async def gone() -> bool:
        return "hydro_router_kafka_partitions{" not in await router.metrics()

    await wait_until(gone, 15, "the consumer stopped")
    assert await partitions() == 0

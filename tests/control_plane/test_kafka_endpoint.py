"""An application's Kafka endpoint: declared with PUT, checked with 400s naming the field, stored, sent to the
routers in the catalog snapshot, shown by GET with the consumer lag the real broker reports, and cleared by a
PUT without it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from protos.hydro.v1 import catalog_pb2, catalog_pb2_grpc
from servicekit.grpc_security import ServiceLink
from tests.control_plane.conftest import SERVICE_TOKEN, ControlPlane, make_settings, running, unique
from tests.control_plane.packages import package
from tests.kafka_broker import KafkaBroker
from tests.ports import free_port


@pytest.fixture
async def kafka_control_plane(
    tmp_path: Path, database_url: str, kafka_broker: KafkaBroker
) -> AsyncIterator[ControlPlane]:
    """A control plane whose platform has Kafka brokers: the test broker."""
    settings = make_settings(tmp_path, database_url, kafka_bootstrap_servers=kafka_broker.bootstrap_servers)
    async with running(settings) as control_plane:
        yield control_plane


async def topic(broker: KafkaBroker, name: str, partitions: int = 1) -> str:
    return await asyncio.to_thread(broker.topic, name, partitions)


async def released_app(control_plane: ControlPlane) -> tuple[str, dict[str, Any]]:
    """A new application name and the stages of a released version it may serve."""
    model = unique("kmodel")
    await control_plane.release(model, package(model))
    return unique("kapp"), {"stages": [{"variants": [{"model": model, "version": 1}]}]}


async def test_declare_show_and_clear_a_kafka_endpoint(
    kafka_control_plane: ControlPlane, kafka_broker: KafkaBroker
) -> None:
    client = kafka_control_plane.client
    app, spec = await released_app(kafka_control_plane)
    source = await topic(kafka_broker, "orders", partitions=2)
    kafka = {"source_topic": source, "destination_topic": "scored-orders", "error_topic": "orders.errors"}

    put = await client.put(f"/api/v1/applications/{app}", json={**spec, "kafka": kafka})
    assert put.status_code == 200, put.text
    declared = {**kafka, "consumer_group": f"hydro.{app}"}  # the default group
    empty = [{"partition": p, "committed": None, "end": 0, "lag": 0} for p in (0, 1)]
    shown = {**declared, "lag": {"total": 0, "partitions": empty}, "lag_error": None}
    assert put.json()["kafka"] == shown

    got = await client.get(f"/api/v1/applications/{app}")
    assert got.status_code == 200 and got.json()["kafka"] == shown
    listed = (await client.get("/api/v1/applications")).json()["applications"]
    assert next(a for a in listed if a["name"] == app)["kafka"] == shown

    own_group = await client.put(
        f"/api/v1/applications/{app}", json={**spec, "kafka": {**kafka, "consumer_group": "orders-scorer"}}
    )
    assert own_group.json()["kafka"]["consumer_group"] == "orders-scorer"

    # PUT declares the whole application: without `kafka` (or with null) it has no Kafka endpoint.
    cleared = await client.put(f"/api/v1/applications/{app}", json=spec)
    assert cleared.status_code == 200 and cleared.json()["kafka"] is None
    assert (await client.get(f"/api/v1/applications/{app}")).json()["kafka"] is None
    await client.put(f"/api/v1/applications/{app}", json={**spec, "kafka": kafka})
    nulled = await client.put(f"/api/v1/applications/{app}", json={**spec, "kafka": None})
    assert nulled.status_code == 200 and nulled.json()["kafka"] is None


async def test_the_catalog_snapshot_carries_the_binding_to_the_routers(
    kafka_control_plane: ControlPlane,
) -> None:
    app, spec = await released_app(kafka_control_plane)
    kafka = {"source_topic": "in", "destination_topic": "out", "error_topic": "err", "consumer_group": "g1"}

    async with ServiceLink(SERVICE_TOKEN).channel(kafka_control_plane.catalog_address) as channel:
        stub = catalog_pb2_grpc.CatalogStub(channel)  # type: ignore[no-untyped-call]
        stream = stub.Watch(catalog_pb2.WatchRequest(client="test-router"))
        await asyncio.wait_for(stream.read(), timeout=10)

        put = await kafka_control_plane.client.put(
            f"/api/v1/applications/{app}", json={**spec, "kafka": kafka}
        )
        assert put.status_code == 200, put.text
        snapshot = await asyncio.wait_for(stream.read(), timeout=10)
        assert isinstance(snapshot, catalog_pb2.Snapshot)
        application = next(a for a in snapshot.applications if a.name == app)
        assert application.HasField("kafka")
        assert application.kafka == catalog_pb2.KafkaBinding(
            source_topic="in", destination_topic="out", error_topic="err", consumer_group="g1"
        )

        await kafka_control_plane.client.put(f"/api/v1/applications/{app}", json=spec)
        snapshot = await asyncio.wait_for(stream.read(), timeout=10)
        assert isinstance(snapshot, catalog_pb2.Snapshot)
        assert not next(a for a in snapshot.applications if a.name == app).HasField("kafka")
        stream.cancel()


GOOD = {"source_topic": "in", "destination_topic": "out", "error_topic": "err"}


@pytest.mark.parametrize(
    ("kafka", "message"),
    [
        ({**GOOD, "source_topic": "orders in"}, "kafka.source_topic: String should match pattern"),
        ({**GOOD, "destination_topic": "scores/out"}, "kafka.destination_topic: String should match pattern"),
        ({**GOOD, "error_topic": "."}, "kafka.error_topic: Kafka refuses '.' as a name"),
        ({**GOOD, "source_topic": ".."}, "kafka.source_topic: Kafka refuses '..' as a name"),
        ({**GOOD, "source_topic": ""}, "kafka.source_topic: String should have at least 1 character"),
        (
            {**GOOD, "source_topic": "t" * 250},
            "kafka.source_topic: String should have at most 249 characters",
        ),
        ({"source_topic": "in", "destination_topic": "out"}, "missing required key 'kafka.error_topic'"),
        ({**GOOD, "error_topic": None}, "kafka.error_topic: Input should be a valid string"),
        ({"source_topic": "in", "error_topic": "err"}, "missing required key 'kafka.destination_topic'"),
        ({**GOOD, "destination_topic": "in"}, "kafka.destination_topic: 'in' is also kafka.source_topic"),
        ({**GOOD, "error_topic": "in"}, "kafka.error_topic: 'in' is also kafka.source_topic"),
        ({**GOOD, "error_topic": "out"}, "kafka.error_topic: 'out' is also kafka.destination_topic"),
        ({**GOOD, "consumer_group": "my group!"}, "kafka.consumer_group: String should match pattern"),
        ({**GOOD, "consumer_group": ""}, "kafka.consumer_group: String should have at least 1 character"),
        ({**GOOD, "consumer_group": 7}, "kafka.consumer_group: Input should be a valid string"),
        ({**GOOD, "partitions": 3}, "unknown key 'kafka.partitions'"),
        ("in", "kafka: Input should be a valid dictionary or instance of KafkaSpec"),
    ],
)
async def test_a_bad_kafka_endpoint_is_refused_naming_the_field(
    kafka_control_plane: ControlPlane, kafka: Any, message: str
) -> None:
    app, spec = await released_app(kafka_control_plane)
    response = await kafka_control_plane.client.put(
        f"/api/v1/applications/{app}", json={**spec, "kafka": kafka}
    )
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
    assert (await kafka_control_plane.client.get(f"/api/v1/applications/{app}")).status_code == 404


async def test_two_applications_cannot_share_a_consumer_group(kafka_control_plane: ControlPlane) -> None:
    first, spec = await released_app(kafka_control_plane)
    second = unique("kapp")
    group = {**GOOD, "consumer_group": "shared"}
    put = await kafka_control_plane.client.put(f"/api/v1/applications/{first}", json={**spec, "kafka": group})
    assert put.status_code == 200, put.text
    again = await kafka_control_plane.client.put(
        f"/api/v1/applications/{first}", json={**spec, "kafka": group}
    )
    assert again.status_code == 200, again.text  # its own group: still idempotent

    clash = await kafka_control_plane.client.put(
        f"/api/v1/applications/{second}", json={**spec, "kafka": {**group, "source_topic": "other"}}
    )
    assert clash.status_code == 409
    assert clash.json()["error"] == (
        f"application {second!r}: kafka.consumer_group: 'shared' is already the consumer group of "
        f"application {first!r}; each application needs its own group"
    )


async def test_a_platform_without_brokers_refuses_kafka_naming_the_setting(
    control_plane: ControlPlane,
) -> None:
    app, spec = await released_app(control_plane)
    response = await control_plane.client.put(f"/api/v1/applications/{app}", json={**spec, "kafka": GOOD})
    assert response.status_code == 409
    assert "HYDRO_KAFKA_BOOTSTRAP_SERVERS" in response.json()["error"]
    assert (await control_plane.client.get(f"/api/v1/applications/{app}")).status_code == 404
    # Without `kafka` the same application is fine.
    assert (await control_plane.client.put(f"/api/v1/applications/{app}", json=spec)).status_code == 200


async def test_the_lag_shown_is_what_was_produced_minus_what_the_group_committed(
    kafka_control_plane: ControlPlane, kafka_broker: KafkaBroker
) -> None:
    app, spec = await released_app(kafka_control_plane)
    source = await topic(kafka_broker, "payments", partitions=3)
    kafka = {**GOOD, "source_topic": source, "consumer_group": f"group-{app}"}
    put = await kafka_control_plane.client.put(f"/api/v1/applications/{app}", json={**spec, "kafka": kafka})
    assert put.status_code == 200, put.text

    produced = {0: 7, 1: 4, 2: 2}  # 13 messages
    committed = {0: 5, 1: 1}  # partition 2: nothing committed yet
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)
    await producer.start()
    try:
        for partition, count in produced.items():
            for n in range(count):
                await producer.send_and_wait(source, b'{"x": [%d]}' % n, partition=partition)
    finally:
        await producer.stop()
    await commit(kafka_broker, kafka["consumer_group"], source, committed)

    shown = (await kafka_control_plane.client.get(f"/api/v1/applications/{app}")).json()["kafka"]
    assert shown["lag_error"] is None
    assert shown["lag"] == {
        "total": 13 - 6,
        "partitions": [
            {"partition": 0, "committed": 5, "end": 7, "lag": 2},
            {"partition": 1, "committed": 1, "end": 4, "lag": 3},
            {"partition": 2, "committed": None, "end": 2, "lag": 2},
        ],
    }


async def commit(broker: KafkaBroker, group: str, topic_name: str, offsets: dict[int, int]) -> None:
    """Commit `offsets` (partition -> next offset to read) in `group`, as a consumer of it would."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap_servers, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = {p: TopicPartition(topic_name, p) for p in offsets}
        consumer.assign(list(partitions.values()))
        await consumer.commit({partitions[p]: offset for p, offset in offsets.items()})
    finally:
        await consumer.stop()


async def test_a_source_topic_missing_on_the_brokers_is_said_instead_of_a_lag(
    kafka_control_plane: ControlPlane,
) -> None:
    app, spec = await released_app(kafka_control_plane)
    missing = unique("never-created")
    kafka = {**GOOD, "source_topic": missing}
    response = await kafka_control_plane.client.put(
        f"/api/v1/applications/{app}", json={**spec, "kafka": kafka}
    )
    assert response.status_code == 200, response.text
    shown = (await kafka_control_plane.client.get(f"/api/v1/applications/{app}")).json()["kafka"]
    assert shown["lag"] is None
    assert shown["lag_error"] == f"topic {missing!r} does not exist on the Kafka brokers"


@contextlib.asynccontextmanager
async def silent_broker() -> AsyncIterator[str]:
    """A TCP server that accepts Kafka clients and never answers: a broker that hangs."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    try:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        for writer in held:
            writer.close()
        server.close()


@pytest.mark.parametrize("broker", ["refusing", "silent"])
async def test_brokers_that_cannot_be_asked_give_a_reason_within_the_bound_never_an_error(
    tmp_path: Path, database_url: str, broker: str
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        if broker == "silent":
            address = await stack.enter_async_context(silent_broker())
        else:
            address = f"127.0.0.1:{free_port()}"  # nothing listens there
        settings = make_settings(
            tmp_path, database_url, kafka_bootstrap_servers=address, kafka_lag_timeout_s=1.0
        )
        control_plane = await stack.enter_async_context(running(settings))
        app, spec = await released_app(control_plane)
        put = await control_plane.client.put(f"/api/v1/applications/{app}", json={**spec, "kafka": GOOD})
        assert put.status_code == 200, put.text

        started = time.monotonic()
        got = await control_plane.client.get(f"/api/v1/applications/{app}")
        took = time.monotonic() - started
        assert got.status_code == 200, got.text
        shown = got.json()["kafka"]
        assert shown["lag"] is None
        if broker == "silent":
            assert shown["lag_error"] == "the Kafka brokers did not answer within 1 s"
        else:
            assert shown["lag_error"].startswith("cannot reach the Kafka brokers: ")
        assert took < 1.0 + 1.0 + 0.5, (
            f"GET took {took:.2f} s: the lag lookup is bounded by 1 s (+1 s to close)"
        )

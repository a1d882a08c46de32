"""`hydro apps kafka APP --source T --destination T --error T [--group G]` and `--off`; `hydro apps` shows
each Kafka endpoint's consumer lag. Against a control plane whose platform has the test broker."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from tests.cli.conftest import ADMIN_HEADERS, ControlPlane, copy_example, serving
from tests.kafka_broker import KafkaBroker


@pytest.fixture(scope="module")
def control_plane(
    tmp_path_factory: pytest.TempPathFactory, kafka_broker: KafkaBroker
) -> Iterator[ControlPlane]:
    """This module's control plane has Kafka brokers (the `hydro` fixture runs against it)."""
    home = tmp_path_factory.mktemp("hydro-home")
    with serving(home, kafka_bootstrap_servers=kafka_broker.bootstrap_servers) as running:
        yield running


def produce(broker: KafkaBroker, topic: str, count: int) -> None:
    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
        await producer.start()
        try:
            for n in range(count):
                await producer.send_and_wait(topic, b'{"amount": [%d]}' % n)
        finally:
            await producer.stop()

    asyncio.run(send())


def lag_cell(hydro: Any, app: str) -> str:
    """The LAG column of APP's first row in `hydro apps`."""
    listed = hydro("apps")
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    header = lines[0]
    row = next(line for line in lines if line.split()[:1] == [app])
    start = header.index("LAG")
    return row[start : header.index("INVOKE URL")].strip()


def test_set_list_and_remove_an_applications_kafka_endpoint(
    hydro: Any, control_plane: ControlPlane, kafka_broker: KafkaBroker, tmp_path: Path
) -> None:
    folder, app = copy_example("fraud-detector", tmp_path)
    assert hydro("deploy", str(folder), "--app", app).exit_code == 0
    assert lag_cell(hydro, app) == "-"  # no Kafka endpoint yet
    with httpx.Client(base_url=control_plane.url, headers=ADMIN_HEADERS) as api:
        sampled = api.put(
            f"/api/v1/applications/{app}",
            json={"variants": [{"model": app, "version": 1}], "sampling_rate": 0.25},
        )
        assert sampled.status_code == 200, sampled.text
    source = kafka_broker.topic("transactions", partitions=1)

    set_ = hydro("apps", "kafka", app, "--source", source, "--destination", "scores", "--error", "rejects")
    assert set_.exit_code == 0, set_.output
    assert set_.stdout.strip() == (
        f"application {app} reads Kafka topic {source} (consumer group hydro.{app}), answers to scores, "
        "sends failures to rejects"
    )
    produce(kafka_broker, source, 3)
    assert lag_cell(hydro, app) == "3"  # nothing consumed yet

    with httpx.Client(base_url=control_plane.url, headers=ADMIN_HEADERS) as api:
        shown = api.get(f"/api/v1/applications/{app}").json()
    assert shown["sampling_rate"] == 0.25  # the rest of the application stays as it was
    assert shown["kafka"]["consumer_group"] == f"hydro.{app}"

    grouped = hydro(
        "apps", "kafka", app, "--source", source, "--destination", "scores", "--error", "rejects",
        "--group", "fraud-scoring",
    )  # fmt: skip
    assert grouped.exit_code == 0 and "(consumer group fraud-scoring)" in grouped.stdout

    off = hydro("apps", "kafka", app, "--off")
    assert off.exit_code == 0, off.output
    assert off.stdout.strip() == f"application {app} has no Kafka endpoint"
    assert lag_cell(hydro, app) == "-"


def test_a_kafka_endpoint_the_platform_refuses_is_one_line_on_stderr(hydro: Any, tmp_path: Path) -> None:
    folder, app = copy_example("fraud-detector", tmp_path)
    assert hydro("deploy", str(folder), "--app", app).exit_code == 0
    bad = hydro("apps", "kafka", app, "--source", "in put", "--destination", "out", "--error", "err")
    assert bad.exit_code == 1
    assert bad.stderr.startswith(f"error: application '{app}': kafka.source_topic: ")
    same = hydro("apps", "kafka", app, "--source", "in", "--destination", "in", "--error", "err")
    assert same.exit_code == 1 and "kafka.destination_topic: 'in' is also kafka.source_topic" in same.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "in", "--destination", "out"], "missing --error"),
        (["--source", "in"], "missing --destination, --error"),
        (["--off", "--source", "in"], "--off takes no topics or group (got --source)"),
    ],
)
def test_wrong_usage_is_reported_before_calling_the_platform(
    hydro: Any, args: list[str], message: str
) -> None:
    result = hydro("apps", "kafka", "any-app", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_a_redeploy_keeps_how_the_application_is_reached(
    hydro: Any, control_plane: ControlPlane, tmp_path: Path
) -> None:
    """`hydro deploy` again moves the application to the new version; its Kafka endpoint, sampling rate and
    invoke-key requirement stay as they were (a redeploy that dropped them would silently stop a stream or
    open an application that needed a key)."""
    folder, app = copy_example("fraud-detector", tmp_path)
    assert hydro("deploy", str(folder), "--app", app).exit_code == 0
    kafka = {"source_topic": "tx-in", "destination_topic": "tx-out", "error_topic": "tx-err"}
    with httpx.Client(base_url=control_plane.url, headers=ADMIN_HEADERS) as api:
        declared = api.put(
            f"/api/v1/applications/{app}",
            json={
                "variants": [{"model": app, "version": 1}],
                "sampling_rate": 0.5,
                "require_invoke_key": True,
                "kafka": kafka,
            },
        )
        assert declared.status_code == 200, declared.text

        again = hydro("deploy", str(folder), "--app", app)
        assert again.exit_code == 0, again.output
        after = api.get(f"/api/v1/applications/{app}").json()
    assert after["stages"][0]["variants"][0]["version"] == 2
    assert {k: after["kafka"][k] for k in kafka} == kafka
    assert after["sampling_rate"] == 0.5 and after["require_invoke_key"] is True

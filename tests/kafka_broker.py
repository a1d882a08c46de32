"""The Kafka-protocol broker the tests run against: Tansu, started by `scripts/services.sh start`.

`kafka_broker` fails (never skips) when the broker is not running, naming how to start it. Each test makes
its own topics (`broker.topic("name", partitions=3)`), so tests share the one broker without meeting.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

ADDRESS_FILE = Path(__file__).resolve().parents[1] / ".cache" / "services" / "kafka.address"


def broker_address() -> str:
    """`HYDRO_TEST_KAFKA_BOOTSTRAP_SERVERS`, else the address the service script wrote, else a failure."""
    address = os.environ.get("HYDRO_TEST_KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if not address:
        try:
            address = ADDRESS_FILE.read_text(encoding="utf-8").strip()
        except OSError:
            pytest.fail(
                f"no Kafka broker: {ADDRESS_FILE} is missing; start it with `scripts/services.sh start` "
                "(or set HYDRO_TEST_KAFKA_BOOTSTRAP_SERVERS)"
            )
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError as exc:
        pytest.fail(f"the Kafka broker at {address} does not answer ({exc}); run `scripts/services.sh start`")
    return address


@dataclass
class KafkaBroker:
    bootstrap_servers: str

    def topic(self, name: str, partitions: int = 1) -> str:
        """Create a topic named `name` plus a unique suffix; its full name."""
        full = f"{name}-{uuid.uuid4().hex[:8]}"
        asyncio.run(self._create(full, partitions))
        return full

    async def _create(self, name: str, partitions: int) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        finally:
            await admin.close()


@pytest.fixture(scope="session")
def kafka_broker() -> KafkaBroker:
    return KafkaBroker(broker_address())

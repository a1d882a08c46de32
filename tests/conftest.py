"""Fixtures every suite may use."""

from __future__ import annotations

from tests.kafka_broker import kafka_broker  # noqa: F401  (the Kafka-protocol broker on loopback)
from tests.s3_server import s3_server  # noqa: F401  (an S3-protocol server on loopback)

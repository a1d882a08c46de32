"""An S3-protocol server on loopback for the tests: moto's server mode stands in for MinIO / AWS S3.

`s3_server` is a fixture; a suite's conftest imports it to use it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.ports import free_port


@dataclass
class S3Server:
    """A running moto S3 server with one bucket; `server.stop()`/`start()` simulate an outage on one port."""

    endpoint: str
    bucket: str
    server: ThreadedMotoServer

    def keys(self, prefix: str = "") -> list[str]:
        listing = boto3.client("s3", endpoint_url=self.endpoint).list_objects_v2(
            Bucket=self.bucket, Prefix=prefix
        )
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def read(self, key: str) -> bytes:
        response = boto3.client("s3", endpoint_url=self.endpoint).get_object(Bucket=self.bucket, Key=key)
        return bytes(response["Body"].read())


@pytest.fixture
def s3_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "hydro-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hydro-test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    # moto keeps its buckets in process memory across servers: a bucket of its own per test.
    bucket = f"hydro-test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    yield S3Server(endpoint, bucket, server)
    server.stop()

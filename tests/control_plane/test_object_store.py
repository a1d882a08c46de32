"""Packages in an S3 object store (moto's S3 server on loopback stands in for MinIO / AWS S3)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from control_plane.errors import NotFound
from control_plane.object_store import FileObjectStore, open_object_store
from tests.control_plane.conftest import make_settings, running, unique
from tests.control_plane.packages import member, model_files, package, tar_gz
from tests.ports import free_port

BUCKET = "hydro-artifacts"


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "hydro-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hydro-test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


def objects(endpoint: str) -> list[str]:
    listing = boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket=BUCKET)
    return [item["Key"] for item in listing.get("Contents", [])]


async def test_uploads_are_stored_in_s3_and_served_back(tmp_path: Path, s3_endpoint: str) -> None:
    settings = make_settings(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path}/hydro.db",
        object_store_url=f"s3://{BUCKET}/catalog",
        s3_endpoint_url=s3_endpoint,
    )
    name = unique("in-s3")
    async with running(settings) as control_plane:
        await control_plane.release(name, package(name))
        version = (await control_plane.client.get(f"/api/v1/models/{name}/versions/1")).json()
        key = f"catalog/models/{name}/1/package.tar.gz"
        assert version["artifact_url"] == f"s3://{BUCKET}/{key}"
        stored = (
            boto3.client("s3", endpoint_url=s3_endpoint).get_object(Bucket=BUCKET, Key=key)["Body"].read()
        )
        served = await control_plane.client.get(f"/api/v1/models/{name}/versions/1/artifact")
        assert served.status_code == 200 and served.content == stored

        refused = await control_plane.upload(name, tar_gz(model_files(name), extra=[member("/etc/evil")]))
        assert refused.status_code == 400
        assert objects(s3_endpoint) == [key]


async def test_big_files_go_up_in_parts_and_come_back_intact(tmp_path: Path, s3_endpoint: str) -> None:
    store = open_object_store(f"s3://{BUCKET}/big", s3_endpoint_url=s3_endpoint)
    source = tmp_path / "weights.bin"
    source.write_bytes(os.urandom(40 * 1024 * 1024 + 123))  # three parts, the last one short
    try:
        url = await store.put_file("models/big/1/package.tar.gz", source)
        assert url == f"s3://{BUCKET}/big/models/big/1/package.tar.gz"
        copy = tmp_path / "copy.bin"
        await store.get_file("models/big/1/package.tar.gz", copy)
        assert hashlib.sha256(copy.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()
        await store.delete("models/big/1/package.tar.gz")
        with pytest.raises(NotFound, match="is not in the object store"):
            await store.get_file("models/big/1/package.tar.gz", copy)
    finally:
        await store.close()


async def test_keys_cannot_escape_the_file_store(tmp_path: Path) -> None:
    store = FileObjectStore(tmp_path / "objects")
    with pytest.raises(ValueError, match="must be a relative path"):
        store.url("../outside")
    with pytest.raises(ValueError, match="must be a relative path"):
        store.url("/etc/passwd")
    with pytest.raises(NotFound):
        await store.get_file("models/none/1/package.tar.gz", tmp_path / "x")

"""The shared object store keeps objects by key in a folder or an S3 bucket (moto's S3 server on loopback
stands in for MinIO / AWS S3): whole objects, files (big ones in multipart uploads), listing by prefix."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from servicekit.object_store import (
    FileObjectStore,
    InvalidObjectLocation,
    ObjectNotFound,
    ObjectStore,
    open_object_store,
)
from tests.s3_server import S3Server


async def _round_trip(store: ObjectStore, tmp_path: Path) -> None:
    await store.put("samples/m/3/date=2026-11-23/hour=14/part-1.parquet", b"one")
    await store.put("samples/m/3/date=2026-11-23/hour=15/part-2.parquet", b"two")
    await store.put("samples/m/30/date=2026-11-23/hour=14/part-3.parquet", b"other version")
    await store.put("samples/m/3/date=2026-11-23/hour=14/part-1.parquet", b"one, replaced")

    assert await store.get("samples/m/3/date=2026-11-23/hour=14/part-1.parquet") == b"one, replaced"
    assert await store.keys("samples/m/3/") == [
        "samples/m/3/date=2026-11-23/hour=14/part-1.parquet",
        "samples/m/3/date=2026-11-23/hour=15/part-2.parquet",
    ]
    assert await store.keys("samples/m/3/date=2026-11-23/hour=15") == [
        "samples/m/3/date=2026-11-23/hour=15/part-2.parquet"
    ]
    assert await store.keys("samples/nobody/") == []
    with pytest.raises(ObjectNotFound, match="not in the object store"):
        await store.get("samples/m/3/missing.parquet")
    with pytest.raises(InvalidObjectLocation, match="relative path"):
        await store.put("../escape", b"x")

    source = tmp_path / "package.tar.gz"
    source.write_bytes(b"a package")
    url = await store.put_file("models/m/1/package.tar.gz", source)
    assert url == store.url("models/m/1/package.tar.gz")
    assert b"".join([chunk async for chunk in store.stream("models/m/1/package.tar.gz")]) == b"a package"
    await store.delete("models/m/1/package.tar.gz")
    await store.delete("models/m/1/package.tar.gz")  # deleting what is gone is no error
    with pytest.raises(ObjectNotFound):
        await store.get_file("models/m/1/package.tar.gz", tmp_path / "copy")
    with pytest.raises(ObjectNotFound):
        await anext(aiter(store.stream("models/m/1/package.tar.gz")))


async def test_a_folder_store_round_trips_and_lists_by_prefix(tmp_path: Path) -> None:
    store = open_object_store((tmp_path / "objects").as_uri())
    await _round_trip(store, tmp_path)
    assert not [p for p in (tmp_path / "objects").rglob(".*")], "no temporary files are left behind"


async def test_an_s3_store_round_trips_and_lists_by_prefix(s3_server: S3Server, tmp_path: Path) -> None:
    store = open_object_store(f"s3://{s3_server.bucket}/sonar", s3_endpoint_url=s3_server.endpoint)
    try:
        await _round_trip(store, tmp_path)
        assert "sonar/samples/m/30/date=2026-11-23/hour=14/part-3.parquet" in s3_server.keys("sonar/")
    finally:
        await store.close()


async def test_big_files_go_up_to_s3_in_parts_and_come_back_intact(
    tmp_path: Path, s3_server: S3Server
) -> None:
    store = open_object_store(f"s3://{s3_server.bucket}/big", s3_endpoint_url=s3_server.endpoint)
    source = tmp_path / "weights.bin"
    source.write_bytes(os.urandom(40 * 1024 * 1024 + 123))  # three parts, the last one short
    try:
        url = await store.put_file("models/big/1/package.tar.gz", source)
        assert url == f"s3://{s3_server.bucket}/big/models/big/1/package.tar.gz"
        copy = tmp_path / "copy.bin"
        await store.get_file("models/big/1/package.tar.gz", copy)
        assert hashlib.sha256(copy.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()
    finally:
        await store.close()


def test_a_store_url_must_be_file_or_s3_and_keys_stay_inside() -> None:
    with pytest.raises(InvalidObjectLocation, match="scheme must be file:// or s3://"):
        open_object_store("ftp://example.org/x")
    with pytest.raises(InvalidObjectLocation, match="needs a bucket"):
        open_object_store("s3:///prefix")
    store = FileObjectStore(Path("/srv/objects"))
    for key in ("../outside", "/etc/passwd", ""):
        with pytest.raises(InvalidObjectLocation, match="must be a relative path"):
            store.url(key)

"""Sonar keeps whole objects by key in a folder or an S3 bucket, and lists them by prefix."""

from __future__ import annotations

from pathlib import Path

import pytest

from sonar.errors import InvalidRequest, NotFound
from sonar.object_store import ObjectStore, open_object_store
from tests.sonar.conftest import S3Server


async def _round_trip(store: ObjectStore) -> None:
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
    with pytest.raises(NotFound, match="not in the object store"):
        await store.get("samples/m/3/missing.parquet")
    with pytest.raises(InvalidRequest, match="relative path"):
        await store.put("../escape", b"x")


async def test_a_folder_store_round_trips_and_lists_by_prefix(tmp_path: Path) -> None:
    store = open_object_store((tmp_path / "objects").as_uri())
    await _round_trip(store)
    assert not [p for p in (tmp_path / "objects").rglob(".*")], "no temporary files are left behind"


async def test_an_s3_store_round_trips_and_lists_by_prefix(s3_server: S3Server) -> None:
    store = open_object_store(f"s3://{s3_server.bucket}/sonar", s3_endpoint_url=s3_server.endpoint)
    try:
        await _round_trip(store)
        assert "sonar/samples/m/30/date=2026-11-23/hour=14/part-3.parquet" in s3_server.keys("sonar/")
    finally:
        await store.close()


def test_a_store_url_must_be_file_or_s3() -> None:
    with pytest.raises(InvalidRequest, match="scheme must be file:// or s3://"):
        open_object_store("ftp://example.org/x")
    with pytest.raises(InvalidRequest, match="needs a bucket"):
        open_object_store("s3:///prefix")

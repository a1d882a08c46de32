"""Packages in an S3 object store (moto's S3 server on loopback stands in for MinIO / AWS S3)."""

from __future__ import annotations

from pathlib import Path

from tests.control_plane.conftest import make_settings, running, unique
from tests.control_plane.packages import member, model_files, package, tar_gz
from tests.s3_server import S3Server


async def test_uploads_are_stored_in_s3_and_served_back(tmp_path: Path, s3_server: S3Server) -> None:
    settings = make_settings(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path}/hydro.db",
        object_store_url=f"s3://{s3_server.bucket}/catalog",
        s3_endpoint_url=s3_server.endpoint,
    )
    name = unique("in-s3")
    async with running(settings) as control_plane:
        await control_plane.release(name, package(name))
        version = (await control_plane.client.get(f"/api/v1/models/{name}/versions/1")).json()
        key = f"catalog/models/{name}/1/package.tar.gz"
        assert version["artifact_url"] == f"s3://{s3_server.bucket}/{key}"
        stored = s3_server.read(key)
        served = await control_plane.service.get(f"/api/v1/models/{name}/versions/1/artifact")
        assert served.status_code == 200 and served.content == stored

        refused = await control_plane.upload(name, tar_gz(model_files(name), extra=[member("/etc/evil")]))
        assert refused.status_code == 400
        assert s3_server.keys() == [key], "a refused upload leaves nothing behind"

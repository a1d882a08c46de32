"""`hydro gc`'s middle (`registry_gc.collect`) and the registry client, against a real Distribution registry
(`docker-registry serve`, as scripts/services.sh runs it, with deletes enabled) of this test's own on a free
port, so no other test's images are touched, and a real catalog on SQLite. Images are pushed through the
registry's HTTP API (a config blob and a manifest): no Docker engine is needed."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from control_plane.catalog import Catalog, Notifier
from control_plane.db import create_engine, migrate, sessionmaker
from control_plane.registry import MANIFEST_TYPES, Registry
from control_plane.registry_gc import collect
from control_plane.tables import Model, ModelVersion, VersionStatus
from tests.ports import free_port

pytestmark = pytest.mark.docker

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture
def registry_address(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("docker-registry is not installed; scripts/install_system.sh installs it")
    address = f"127.0.0.1:{free_port()}"
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\nlog: {level: error}\n"
        f"storage: {{filesystem: {{rootdirectory: {tmp_path / 'data'}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: '{address}'}}\n"
    )
    log = (tmp_path / "registry.log").open("wb")
    process = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://{address}/v2/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, (tmp_path / "registry.log").read_text()
            assert time.monotonic() < deadline, "the test registry did not answer within 30 s"
            time.sleep(0.1)
        yield address
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def push(address: str, repository: str, tag: str) -> str:
    """Push a one-blob image `repository:tag`; return its manifest digest."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode()
    digest = "sha256:" + hashlib.sha256(config).hexdigest()
    with httpx.Client(base_url=f"http://{address}", timeout=10) as http:
        started = http.post(f"/v2/{repository}/blobs/uploads/")
        assert started.status_code == 202, started.text
        location = started.headers["Location"]
        separator = "&" if "?" in location else "?"
        put = http.put(f"{location}{separator}digest={digest}", content=config)
        assert put.status_code == 201, put.text
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": digest,
                    "size": len(config),
                },
                "layers": [],
            }
        ).encode()
        stored = http.put(
            f"/v2/{repository}/manifests/{tag}", content=manifest, headers={"Content-Type": MANIFEST}
        )
        assert stored.status_code == 201, stored.text
        return str(stored.headers["Docker-Content-Digest"])


def has_manifest(address: str, repository: str, tag: str) -> bool:
    answer = httpx.head(
        f"http://{address}/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES}
    )
    return answer.status_code == 200


@pytest.fixture
async def catalog(tmp_path: Path) -> AsyncIterator[Catalog]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/hydro.db")
    await migrate(engine)
    yield Catalog(sessionmaker(engine), Notifier())
    await engine.dispose()


async def record(catalog: Catalog, model: str, version: int, status: str, image: str | None) -> None:
    async with catalog.write() as session:
        if await session.get(Model, model) is None:
            session.add(Model(name=model, latest_version=version))
            await session.flush()
        manifest = {"name": model, "version": version, "signature": {"inputs": [], "outputs": []}}
        session.add(
            ModelVersion(
                model_name=model,
                version=version,
                status=status,
                manifest=manifest,
                artifact_url="",
                image=image,
            )
        )


async def test_gc_lists_then_deletes_only_what_no_version_references(
    registry_address: str, catalog: Catalog
) -> None:
    address = registry_address
    for repository, tag in [("kept", "1"), ("kept", "2"), ("gone", "1"), ("building", "1")]:
        push(address, repository, tag)
    await record(catalog, "kept", 1, VersionStatus.RELEASED, f"{address}/kept:1")
    await record(catalog, "building", 2, VersionStatus.BUILDING, None)  # pushed before it is recorded
    registry = Registry(address)
    try:
        looked = await collect(catalog, registry, dry_run=True)
        assert looked["unreferenced"] == [f"{address}/gone:1", f"{address}/kept:2"]
        assert looked["deleted"] == [] and looked["kept"] == 2
        assert has_manifest(address, "gone", "1"), "a dry run deletes nothing"
        assert "garbage-collect" in looked["reclaim_blobs"]

        done = await collect(catalog, registry, dry_run=False)
        assert done["deleted"] == [f"{address}/gone:1", f"{address}/kept:2"] and done["failed"] == []
        assert not has_manifest(address, "gone", "1") and not has_manifest(address, "kept", "2")
        assert has_manifest(address, "kept", "1") and has_manifest(address, "building", "1")
        again = await collect(catalog, registry, dry_run=False)
        assert again["unreferenced"] == [] and again["deleted"] == []

        assert await registry.delete_tag("kept", "1") is True
        assert await registry.delete_tag("kept", "1") is False, "a second delete finds nothing"
    finally:
        await registry.close()

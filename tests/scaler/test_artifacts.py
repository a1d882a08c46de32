"""The process backend's package cache: fetched once per version, unpacked safely."""

from __future__ import annotations

import functools
import http.server
import io
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from scaler.errors import ArtifactError
from scaler.runtimes.artifacts import ArtifactCache
from tests.scaler.packages import write_package
from wire.package import Limits


def tar_with(path: Path, *members: tarfile.TarInfo) -> str:
    with tarfile.open(path, "w:gz") as tar:
        hydro = b"{}"
        info = tarfile.TarInfo("hydro.json")
        info.size = len(hydro)
        tar.addfile(info, io.BytesIO(hydro))
        for member in members:
            tar.addfile(member, io.BytesIO(b"x" * member.size) if member.isfile() else None)
    return path.as_uri()


def file_member(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = 1
    return info


def link_member(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


@pytest.fixture
def http_folder(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A real HTTP server on loopback serving a folder (an object store behind http://)."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_a_file_url_package_is_unpacked_once_into_the_version_folder(tmp_path: Path) -> None:
    package = write_package(tmp_path / "double-1.tar.gz", "double", 1)
    cache = ArtifactCache(tmp_path / "replicas")
    folder = await cache.ensure("double", 1, package.as_uri())
    assert folder == tmp_path / "replicas" / "double" / "1"
    assert sorted(p.name for p in folder.iterdir()) == ["hydro.json", "model.py"]
    # Cached: the second start of the version does not read the package again.
    package.unlink()
    assert await cache.ensure("double", 1, package.as_uri()) == folder


async def test_an_http_package_is_downloaded(tmp_path: Path, http_folder: tuple[Path, str]) -> None:
    served, base = http_folder
    write_package(served / "double-2.tar.gz", "double", 2)
    folder = await ArtifactCache(tmp_path / "replicas").ensure("double", 2, f"{base}/double-2.tar.gz")
    assert (folder / "model.py").is_file()

    with pytest.raises(ArtifactError, match="HTTP 404"):
        await ArtifactCache(tmp_path / "other").ensure("double", 3, f"{base}/missing.tar.gz")


@pytest.mark.parametrize(
    ("member", "problem"),
    [
        (file_member("../escape.py"), "escapes the package folder"),
        (file_member("/etc/evil.py"), "escapes the package folder"),
        (link_member("link.py", "/etc/passwd"), "is a link or special file"),
        (link_member("hard.py", "hydro.json", tarfile.LNKTYPE), "is a link or special file"),
    ],
)
async def test_unsafe_members_are_refused_and_leave_nothing_behind(
    tmp_path: Path, member: tarfile.TarInfo, problem: str
) -> None:
    url = tar_with(tmp_path / "bad.tar.gz", member)
    cache = ArtifactCache(tmp_path / "replicas")
    with pytest.raises(ArtifactError, match=problem) as caught:
        await cache.ensure("bad", 1, url)
    assert member.name in str(caught.value)
    assert list((tmp_path / "replicas" / "bad").iterdir()) == []


async def test_a_package_without_hydro_json_or_a_readable_archive_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.tar.gz"
    with tarfile.open(empty, "w:gz"):
        pass
    with pytest.raises(ArtifactError, match="no hydro.json"):
        await ArtifactCache(tmp_path / "a").ensure("m", 1, empty.as_uri())
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"not a tar")
    with pytest.raises(ArtifactError, match="not a readable tar.gz"):
        await ArtifactCache(tmp_path / "b").ensure("m", 1, garbage.as_uri())
    with pytest.raises(ArtifactError, match="does not exist"):
        await ArtifactCache(tmp_path / "c").ensure("m", 1, (tmp_path / "nothing.tar.gz").as_uri())
    with pytest.raises(ArtifactError, match="s3://"):
        await ArtifactCache(tmp_path / "d").ensure("m", 1, "s3://bucket/m-1.tar.gz")


async def test_the_control_planes_limits_hold_here_too(tmp_path: Path) -> None:
    assert ArtifactCache(tmp_path).limits == Limits()  # 2 GiB unpacked, 20,000 members, as for uploads
    many = tar_with(tmp_path / "many.tar.gz", file_member("a.py"), file_member("b.py"))
    with pytest.raises(ArtifactError, match="more than 2 files and folders"):
        await ArtifactCache(tmp_path / "a", limits=Limits(max_members=2)).ensure("many", 1, many)
    big = tmp_path / "big.tar.gz"
    write_package(big, "big", 1, source="weights = " + "1" * 4096)
    with pytest.raises(ArtifactError, match="unpacks to more than the limit of 4000 bytes"):
        await ArtifactCache(tmp_path / "b", limits=Limits(max_unpacked_bytes=4000)).ensure(
            "big", 1, big.as_uri()
        )
    assert list((tmp_path / "b" / "big").iterdir()) == []

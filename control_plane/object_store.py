"""The object store holding model packages: one small interface, a `file://` implementation, and `s3://`.

Keys are `/`-separated relative paths such as `models/fraud-detector/3/package.tar.gz`; every object
also has a URL (`file:///...` or `s3://bucket/prefix/...`) that is recorded in the catalog.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath
from typing import Protocol
from urllib.parse import unquote, urlparse

from control_plane.errors import InvalidRequest, NotFound, StorageError

CHUNK = 1024 * 1024


def package_key(model: str, version: int) -> str:
    return f"models/{model}/{version}/package.tar.gz"


class ObjectStore(Protocol):
    """Where packages live. Implementations translate their library's errors into StorageError/NotFound."""

    def url(self, key: str) -> str:
        """The URL of `key` in this store."""
        ...

    async def put_file(self, key: str, path: Path) -> str:
        """Store the file at `path` under `key` (replacing any object there); return its URL."""
        ...

    async def get_file(self, key: str, dest: Path) -> None:
        """Copy the object `key` to the file `dest`; NotFound when there is none."""
        ...

    def stream(self, key: str) -> AsyncIterator[bytes]:
        """The object's bytes in chunks; NotFound (raised on first iteration) when there is none."""
        ...

    async def delete(self, key: str) -> None:
        """Remove `key`; no error when it does not exist."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def open_object_store(url: str, *, s3_endpoint_url: str | None = None) -> ObjectStore:
    """The store for `url`: `file:///abs/path` or `s3://bucket/prefix`."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise InvalidRequest(f"object store URL {url!r}: file URLs must be file:///absolute/path")
        return FileObjectStore(Path(unquote(parsed.path)))
    if parsed.scheme == "s3":
        from control_plane.s3_store import S3ObjectStore

        return S3ObjectStore(
            bucket=parsed.netloc, prefix=parsed.path.strip("/"), endpoint_url=s3_endpoint_url
        )
    raise InvalidRequest(f"object store URL {url!r}: the scheme must be file:// or s3://")


def check_key(key: str) -> PurePosixPath:
    path = PurePosixPath(key)
    if not key or path.is_absolute() or ".." in path.parts:
        raise ValueError(f"object key {key!r} must be a relative path without '..'")
    return path


class FileObjectStore:
    """Objects as files under a root folder; writes are atomic (temporary file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).parts)

    def url(self, key: str) -> str:
        return self._path(key).as_uri()

    async def put_file(self, key: str, path: Path) -> str:
        target = self._path(key)
        try:
            await asyncio.to_thread(_copy_atomically, path, target)
        except OSError as exc:
            raise StorageError(f"cannot store {key!r} under {str(self.root)!r}: {exc}") from exc
        return self.url(key)

    async def get_file(self, key: str, dest: Path) -> None:
        source = self._path(key)
        try:
            await asyncio.to_thread(shutil.copyfile, source, dest)
        except FileNotFoundError:
            raise NotFound(f"object {key!r} is not in the object store") from None
        except OSError as exc:
            raise StorageError(f"cannot read {key!r} from {str(self.root)!r}: {exc}") from exc

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            handle = await asyncio.to_thread(open, path, "rb")
        except FileNotFoundError:
            raise NotFound(f"object {key!r} is not in the object store") from None
        except OSError as exc:
            raise StorageError(f"cannot read {key!r} from {str(self.root)!r}: {exc}") from exc
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK):
                yield chunk
        finally:
            handle.close()

    async def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot delete {key!r} from {str(self.root)!r}: {exc}") from exc

    async def close(self) -> None:
        return None


def _copy_atomically(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out, CHUNK)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

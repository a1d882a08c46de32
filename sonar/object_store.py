"""Where Sonar keeps samples, profiles and reports: whole small objects by key, on `file://` or `s3://`.

Sonar's objects are written once and read whole (a Parquet part of a few MiB, a profile, an HTML report),
so the interface is bytes in, bytes out, plus listing by prefix for the partitions of a time window.
Keys are relative `/`-separated paths such as `samples/fraud/3/date=2026-11-23/hour=14/part-....parquet`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote, urlparse

from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from sonar.errors import InvalidRequest, NotFound, StorageError

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

_MISSING = {"NoSuchKey", "404", "NotFound"}


class ObjectStore(Protocol):
    """Implementations translate their library's errors into StorageError / NotFound."""

    def url(self, key: str) -> str: ...

    async def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key`, replacing any object there; readers never see a partial object."""
        ...

    async def get(self, key: str) -> bytes:
        """The whole object; NotFound when there is none."""
        ...

    async def keys(self, prefix: str) -> list[str]:
        """Every key that starts with `prefix`, sorted."""
        ...

    async def close(self) -> None: ...


def open_object_store(url: str, *, s3_endpoint_url: str | None = None) -> ObjectStore:
    """The store for `url`: `file:///abs/path` or `s3://bucket/prefix`."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise InvalidRequest(f"object store URL {url!r}: file URLs must be file:///absolute/path")
        return FileObjectStore(Path(unquote(parsed.path)).expanduser())
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise InvalidRequest(f"object store URL {url!r}: s3:// needs a bucket, as in s3://bucket/prefix")
        return S3ObjectStore(parsed.netloc, parsed.path.strip("/"), s3_endpoint_url)
    raise InvalidRequest(f"object store URL {url!r}: the scheme must be file:// or s3://")


def check_key(key: str) -> PurePosixPath:
    path = PurePosixPath(key)
    if not key or path.is_absolute() or ".." in path.parts:
        raise InvalidRequest(f"object key {key!r} must be a relative path without '..'")
    return path


class FileObjectStore:
    """Objects as files under a root folder; writes are atomic (temporary file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).parts)

    def url(self, key: str) -> str:
        return self._path(key).as_uri()

    async def put(self, key: str, data: bytes) -> None:
        try:
            await asyncio.to_thread(_write_atomically, self._path(key), data)
        except OSError as exc:
            raise StorageError(f"cannot store {key!r} under {str(self.root)!r}: {exc}") from exc

    async def get(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self._path(key).read_bytes)
        except FileNotFoundError:
            raise NotFound(f"object {key!r} is not in the object store") from None
        except OSError as exc:
            raise StorageError(f"cannot read {key!r} from {str(self.root)!r}: {exc}") from exc

    async def keys(self, prefix: str) -> list[str]:
        return await asyncio.to_thread(self._keys, prefix)

    def _keys(self, prefix: str) -> list[str]:
        # Walk only the deepest folder the prefix names in full, then filter by the rest of the prefix.
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        base = self._path(folder) if folder else self.root
        if not base.is_dir():
            return []
        keys = []
        for dirpath, _, filenames in os.walk(base):
            for name in filenames:
                if name.startswith("."):  # a write in progress
                    continue
                key = Path(dirpath, name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    async def close(self) -> None:
        return None


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class S3ObjectStore:
    """`s3://bucket/prefix` over aiobotocore; credentials from the usual AWS sources."""

    def __init__(self, bucket: str, prefix: str, endpoint_url: str | None) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self._endpoint_url = endpoint_url
        self._stack = contextlib.AsyncExitStack()
        self._client: S3Client | None = None
        self._lock = asyncio.Lock()

    def _key(self, key: str) -> str:
        path = check_key(key).as_posix()
        return f"{self.prefix}/{path}" if self.prefix else path

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    async def _s3(self) -> S3Client:
        async with self._lock:
            if self._client is None:
                creator = get_session().create_client("s3", endpoint_url=self._endpoint_url)
                self._client = await self._stack.enter_async_context(creator)
            return self._client

    async def put(self, key: str, data: bytes) -> None:
        try:
            s3 = await self._s3()
            await s3.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"cannot store {self.url(key)}: {exc}") from exc

    async def get(self, key: str) -> bytes:
        try:
            s3 = await self._s3()
            response = await s3.get_object(Bucket=self.bucket, Key=self._key(key))
            async with response["Body"] as body:
                return await body.read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise NotFound(f"object {key!r} is not in the object store") from None
            raise StorageError(f"cannot read {self.url(key)}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"cannot read {self.url(key)}: {exc}") from exc

    async def keys(self, prefix: str) -> list[str]:
        full = self._key(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")
        if prefix.endswith("/") and not full.endswith("/"):
            full += "/"  # keep "samples/m/3/" from matching "samples/m/30/..."
        strip = len(f"{self.prefix}/") if self.prefix else 0
        keys: list[str] = []
        try:
            s3 = await self._s3()
            paginator = s3.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
                keys.extend(item["Key"][strip:] for item in page.get("Contents", []))
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"cannot list {self.url(prefix or '.')}: {exc}") from exc
        return sorted(keys)

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None

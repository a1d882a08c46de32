"""The object store every service shares: model packages, Sonar's samples and profiles, drift reports.

One small interface over a folder (`file:///abs/path`, the embedded default) or an S3 bucket
(`s3://bucket/prefix`, through aiobotocore: AWS S3, MinIO or any S3-protocol server; credentials from the
usual AWS sources, `endpoint_url` for MinIO). Keys are relative `/`-separated paths such as
`models/fraud-detector/3/package.tar.gz` or `samples/fraud/3/date=2026-11-23/hour=14/part-....parquet`.

Small objects go in and out whole (`put`, `get`); packages go as files (`put_file`, `get_file`, `stream`),
big ones to S3 as multipart uploads. Writes are atomic: a reader never sees half an object. Each service
maps these errors to its own status codes at its edge.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO, Protocol
from urllib.parse import unquote, urlparse

from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef

CHUNK = 1024 * 1024
PART = 16 * 1024 * 1024
"""S3 multipart part size (parts must be at least 5 MiB, except the last one)."""
_MISSING = {"NoSuchKey", "404", "NotFound"}


class ObjectStoreError(Exception):
    """The object store failed (unreachable, refused, disk full...); the message names the object."""


class ObjectNotFound(ObjectStoreError):
    """No object under that key."""


class InvalidObjectLocation(ObjectStoreError, ValueError):
    """A store URL or an object key that cannot be used (bad scheme, no bucket, a key escaping the root)."""


class ObjectStore(Protocol):
    def url(self, key: str) -> str:
        """The URL of `key` in this store (recorded in the catalog, shown to users)."""
        ...

    async def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key`, replacing any object there."""
        ...

    async def get(self, key: str) -> bytes:
        """The whole object; ObjectNotFound when there is none."""
        ...

    async def keys(self, prefix: str) -> list[str]:
        """Every key that starts with `prefix`, sorted."""
        ...

    async def sizes(self, prefix: str) -> dict[str, int]:
        """Every key that starts with `prefix`, with its size in bytes (one listing, no reads)."""
        ...

    async def put_file(self, key: str, path: Path) -> str:
        """Store the file at `path` under `key` (replacing any object there); return its URL."""
        ...

    async def get_file(self, key: str, dest: Path) -> None:
        """Copy the object to the file `dest`; ObjectNotFound when there is none."""
        ...

    def stream(self, key: str) -> AsyncIterator[bytes]:
        """The object's bytes in chunks; ObjectNotFound (raised on first iteration) when there is none."""
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
            raise InvalidObjectLocation(f"object store URL {url!r}: file URLs must be file:///absolute/path")
        return FileObjectStore(Path(unquote(parsed.path)).expanduser())
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise InvalidObjectLocation(
                f"object store URL {url!r}: s3:// needs a bucket, as in s3://bucket/prefix"
            )
        return S3ObjectStore(parsed.netloc, parsed.path.strip("/"), s3_endpoint_url)
    raise InvalidObjectLocation(f"object store URL {url!r}: the scheme must be file:// or s3://")


def check_key(key: str) -> PurePosixPath:
    path = PurePosixPath(key)
    if not key or path.is_absolute() or ".." in path.parts:
        raise InvalidObjectLocation(f"object key {key!r} must be a relative path without '..'")
    return path


class FileObjectStore:
    """Objects as files under a root folder; writes go to a hidden temporary file, then are renamed."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).parts)

    def url(self, key: str) -> str:
        return self._path(key).as_uri()

    async def put(self, key: str, data: bytes) -> None:
        try:
            await asyncio.to_thread(_write_atomically, self._path(key), lambda out: out.write(data))
        except OSError as exc:
            raise ObjectStoreError(f"cannot store {key!r} under {str(self.root)!r}: {exc}") from exc

    async def get(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self._path(key).read_bytes)
        except FileNotFoundError:
            raise ObjectNotFound(f"object {key!r} is not in the object store") from None
        except OSError as exc:
            raise ObjectStoreError(f"cannot read {key!r} from {str(self.root)!r}: {exc}") from exc

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

    async def sizes(self, prefix: str) -> dict[str, int]:
        def sized() -> dict[str, int]:
            out = {}
            for key in self._keys(prefix):
                with contextlib.suppress(FileNotFoundError):  # removed meanwhile
                    out[key] = self._path(key).stat().st_size
            return out

        try:
            return await asyncio.to_thread(sized)
        except OSError as exc:
            raise ObjectStoreError(f"cannot list {prefix!r} under {str(self.root)!r}: {exc}") from exc

    async def put_file(self, key: str, path: Path) -> str:
        def copy(out: BinaryIO) -> None:
            with open(path, "rb") as source:
                shutil.copyfileobj(source, out, CHUNK)

        try:
            await asyncio.to_thread(_write_atomically, self._path(key), copy)
        except OSError as exc:
            raise ObjectStoreError(f"cannot store {key!r} under {str(self.root)!r}: {exc}") from exc
        return self.url(key)

    async def get_file(self, key: str, dest: Path) -> None:
        try:
            await asyncio.to_thread(shutil.copyfile, self._path(key), dest)
        except FileNotFoundError:
            raise ObjectNotFound(f"object {key!r} is not in the object store") from None
        except OSError as exc:
            raise ObjectStoreError(f"cannot read {key!r} from {str(self.root)!r}: {exc}") from exc

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            handle = await asyncio.to_thread(open, path, "rb")
        except FileNotFoundError:
            raise ObjectNotFound(f"object {key!r} is not in the object store") from None
        except OSError as exc:
            raise ObjectStoreError(f"cannot read {key!r} from {str(self.root)!r}: {exc}") from exc
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK):
                yield chunk
        finally:
            handle.close()

    async def delete(self, key: str) -> None:
        try:
            await asyncio.to_thread(self._path(key).unlink, missing_ok=True)
        except OSError as exc:
            raise ObjectStoreError(f"cannot delete {key!r} from {str(self.root)!r}: {exc}") from exc

    async def close(self) -> None:
        return None


def _write_atomically(target: Path, write: Callable[[BinaryIO], object]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class S3ObjectStore:
    """`s3://bucket/prefix` over aiobotocore; one client, opened on first use."""

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

    def _read_error(self, key: str, exc: BotoCoreError | ClientError) -> ObjectStoreError:
        if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in _MISSING:
            return ObjectNotFound(f"object {key!r} is not in the object store")
        return ObjectStoreError(f"cannot read {self.url(key)}: {exc}")

    async def put(self, key: str, data: bytes) -> None:
        try:
            s3 = await self._s3()
            await s3.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except (BotoCoreError, ClientError) as exc:
            raise ObjectStoreError(f"cannot store {self.url(key)}: {exc}") from exc

    async def get(self, key: str) -> bytes:
        try:
            s3 = await self._s3()
            response = await s3.get_object(Bucket=self.bucket, Key=self._key(key))
            async with response["Body"] as body:
                return await body.read()
        except (BotoCoreError, ClientError) as exc:
            raise self._read_error(key, exc) from exc

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
            raise ObjectStoreError(f"cannot list {self.url(prefix or '.')}: {exc}") from exc
        return sorted(keys)

    async def sizes(self, prefix: str) -> dict[str, int]:
        full = self._key(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")
        if prefix.endswith("/") and not full.endswith("/"):
            full += "/"
        strip = len(f"{self.prefix}/") if self.prefix else 0
        out: dict[str, int] = {}
        try:
            s3 = await self._s3()
            paginator = s3.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
                out.update((item["Key"][strip:], int(item["Size"])) for item in page.get("Contents", []))
        except (BotoCoreError, ClientError) as exc:
            raise ObjectStoreError(f"cannot list {self.url(prefix or '.')}: {exc}") from exc
        return out

    async def put_file(self, key: str, path: Path) -> str:
        name = self._key(key)
        try:
            s3 = await self._s3()
            handle = await asyncio.to_thread(open, path, "rb")
            try:
                first = await asyncio.to_thread(handle.read, PART)
                if len(first) < PART:
                    await s3.put_object(Bucket=self.bucket, Key=name, Body=first)
                else:
                    await self._multipart(s3, name, first, handle)
            finally:
                handle.close()
        except (BotoCoreError, ClientError) as exc:
            raise ObjectStoreError(f"cannot store {self.url(key)}: {exc}") from exc
        return self.url(key)

    async def _multipart(self, s3: S3Client, name: str, first: bytes, handle: BinaryIO) -> None:
        upload = await s3.create_multipart_upload(Bucket=self.bucket, Key=name)
        upload_id = upload["UploadId"]
        parts: list[CompletedPartTypeDef] = []
        try:
            chunk, number = first, 1
            while chunk:
                part = await s3.upload_part(
                    Bucket=self.bucket, Key=name, UploadId=upload_id, PartNumber=number, Body=chunk
                )
                parts.append({"ETag": part["ETag"], "PartNumber": number})
                chunk, number = await asyncio.to_thread(handle.read, PART), number + 1
            await s3.complete_multipart_upload(
                Bucket=self.bucket, Key=name, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            with contextlib.suppress(BotoCoreError, ClientError):
                await s3.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
            raise

    async def get_file(self, key: str, dest: Path) -> None:
        handle = await asyncio.to_thread(open, dest, "wb")
        try:
            async for chunk in self.stream(key):
                await asyncio.to_thread(handle.write, chunk)
        finally:
            handle.close()

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        try:
            s3 = await self._s3()
            response = await s3.get_object(Bucket=self.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as exc:
            raise self._read_error(key, exc) from exc
        body = response["Body"]
        try:
            while chunk := await body.read(CHUNK):
                yield chunk
        except (BotoCoreError, ClientError) as exc:
            raise ObjectStoreError(f"cannot read {self.url(key)}: {exc}") from exc
        finally:
            body.close()

    async def delete(self, key: str) -> None:
        try:
            s3 = await self._s3()
            await s3.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as exc:
            raise ObjectStoreError(f"cannot delete {self.url(key)}: {exc}") from exc

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None

"""The `s3://bucket/prefix` object store, over aiobotocore (AWS S3, MinIO, or any S3-protocol server).

Credentials and region come from the usual AWS sources (environment, config files, instance roles);
`HYDRO_S3_ENDPOINT_URL` points it at MinIO or another S3-compatible server. Big files go up as
multipart uploads whose parts are read off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from control_plane.errors import InvalidRequest, NotFound, StorageError
from control_plane.object_store import CHUNK, check_key

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef

PART = 16 * 1024 * 1024  # S3 parts must be at least 5 MiB, except the last one
_MISSING = {"NoSuchKey", "404", "NotFound"}


class S3ObjectStore:
    def __init__(self, bucket: str, prefix: str, endpoint_url: str | None) -> None:
        if not bucket:
            raise InvalidRequest("object store URL: s3:// needs a bucket, as in s3://bucket/prefix")
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

    async def put_file(self, key: str, path: Path) -> str:
        s3 = await self._s3()
        name = self._key(key)
        try:
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
            raise StorageError(f"cannot store {self.url(key)}: {exc}") from exc
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
        s3 = await self._s3()
        try:
            response = await s3.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise NotFound(f"object {key!r} is not in the object store") from None
            raise StorageError(f"cannot read {self.url(key)}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"cannot read {self.url(key)}: {exc}") from exc
        body = response["Body"]
        try:
            while chunk := await body.read(CHUNK):
                yield chunk
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"cannot read {self.url(key)}: {exc}") from exc
        finally:
            body.close()

    async def delete(self, key: str) -> None:
        s3 = await self._s3()
        try:
            await s3.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"cannot delete {self.url(key)}: {exc}") from exc

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None

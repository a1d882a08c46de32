"""A version's package, fetched from the object store and unpacked once into a local cache.

Packages are tar.gz files with `hydro.json` at the root. `file://` URLs are read in place, `http(s)://`
URLs are downloaded. Any other location (`s3://` in a shared S3 or MinIO store) is downloaded from the
control plane's package endpoint, `{control_plane_url}/api/v1/models/{m}/versions/{n}/artifact`, which
answers only the service credential: the scaler needs no object-store credentials of its own.
Unpacking is `wire.package.unpack` (the control plane's checks and limits: members that would escape the
folder, links and special files are refused) into a temporary folder that is renamed into place, so a
half-unpacked version is never used.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import ssl
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

import httpx

from scaler.errors import ArtifactError
from wire.manifest import MANIFEST_FILE, PackageError
from wire.package import Limits, UnreadableArchive, UnsafeMember, unpack

log = logging.getLogger(__name__)


class ArtifactCache:
    """Unpacked versions under `{root}/{model}/{version}/`."""

    def __init__(
        self,
        root: Path,
        *,
        download_timeout_s: float = 300.0,
        limits: Limits | None = None,
        verify: ssl.SSLContext | bool = True,
        control_plane_url: str | None = None,
        service_token: str | None = None,
    ) -> None:
        """`verify`: what `https://` downloads check the server against (`servicekit.tls.http_verify`);
        `control_plane_url` and `service_token`: where packages stored outside the local filesystem are
        downloaded from, with the service credential."""
        self.root = root
        self.verify = verify
        self.download_timeout_s = download_timeout_s
        self.limits = limits or Limits()
        self.control_plane_url = control_plane_url.rstrip("/") if control_plane_url else None
        self._service_token = service_token
        self._locks: dict[str, asyncio.Lock] = {}

    def folder(self, model: str, version: int) -> Path:
        return self.root / model / str(version)

    async def ensure(self, model: str, version: int, artifact_url: str) -> Path:
        """The folder holding the version's unpacked package, fetching and unpacking it the first time."""
        folder = self.folder(model, version)
        lock = self._locks.setdefault(f"{model}:{version}", asyncio.Lock())
        async with lock:
            if await asyncio.to_thread((folder / MANIFEST_FILE).is_file):
                return folder
            started = time.monotonic()
            if not artifact_url:
                raise ArtifactError(f"version {model}:{version} has no artifact_url in the catalog")
            url = urlparse(artifact_url)
            if url.scheme == "file":
                await asyncio.to_thread(_unpack, _file_path(artifact_url), folder, self.limits)
            elif url.scheme in ("http", "https"):
                await self._download_and_unpack(artifact_url, folder)
            elif self.control_plane_url is not None:
                endpoint = f"{self.control_plane_url}/api/v1/models/{model}/versions/{version}/artifact"
                await self._download_and_unpack(endpoint, folder, service=True)
            else:
                raise ArtifactError(
                    f"artifact {artifact_url!r} of {model}:{version}: the process runtime reads file:// and "
                    f"http(s):// URLs, or {url.scheme or 'plain paths'}:// ones through the control plane, "
                    "whose URL it was not given"
                )
            log.info("unpacked %s:%d into %s in %.3f s", model, version, folder, time.monotonic() - started)
            return folder

    async def _download_and_unpack(self, artifact_url: str, folder: Path, *, service: bool = False) -> None:
        """Download and unpack; `service`: the URL is the control plane's, which needs the service credential
        (never sent anywhere else, and never across a redirect)."""
        headers = (
            {"Authorization": f"Bearer {self._service_token}"} if service and self._service_token else {}
        )
        folder.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder.parent, suffix=".tar.gz") as download:
            try:
                async with (
                    httpx.AsyncClient(
                        timeout=self.download_timeout_s, follow_redirects=not service, verify=self.verify
                    ) as client,
                    client.stream("GET", artifact_url, headers=headers) as response,
                ):
                    if response.status_code != 200:
                        await response.aread()
                        raise ArtifactError(_refused(artifact_url, response, service))
                    async for chunk in response.aiter_bytes(1 << 20):
                        await asyncio.to_thread(download.write, chunk)
            except httpx.HTTPError as exc:
                raise ArtifactError(f"downloading {artifact_url!r} failed: {exc}") from exc
            await asyncio.to_thread(download.flush)
            await asyncio.to_thread(_unpack, Path(download.name), folder, self.limits)


def _refused(url: str, response: httpx.Response, service: bool) -> str:
    """Why a download answered other than 200, with the server's own message."""
    try:
        body = response.json()
        detail = body["error"] if isinstance(body, dict) and "error" in body else response.text[:300]
    except ValueError:
        detail = response.text[:300]
    message = f"downloading {url!r} answered HTTP {response.status_code}" + (f": {detail}" if detail else "")
    if service and response.status_code in (401, 403):
        message += (
            "; the control plane accepts only the service credential here: give the scaler the control "
            "plane's HYDRO_SERVICE_TOKEN (or the same {HYDRO_HOME}/service-token file)"
        )
    return message


def _file_path(artifact_url: str) -> Path:
    url = urlparse(artifact_url)
    if url.netloc not in ("", "localhost"):
        raise ArtifactError(f"artifact {artifact_url!r}: file:// URLs must name a local path")
    return Path(url2pathname(unquote(url.path)))


def _unpack(archive: Path, folder: Path, limits: Limits) -> None:
    """Unpack `archive` into `folder` (atomically: a temporary sibling renamed into place)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    try:
        try:
            unpack(archive, staging, limits)
        except FileNotFoundError:
            raise ArtifactError(f"artifact {str(archive)!r} does not exist") from None
        except UnsafeMember as exc:
            problem = (
                "escapes the package folder"
                if exc.escapes
                else "is a link or special file; packages hold only files and folders"
            )
            raise ArtifactError(f"artifact {str(archive)!r}: member {exc.member!r} {problem}") from None
        except (UnreadableArchive, OSError) as exc:
            raise ArtifactError(f"artifact {str(archive)!r} is not a readable tar.gz: {exc}") from exc
        except PackageError as exc:
            raise ArtifactError(f"artifact {str(archive)!r}: {exc}") from None
        if not (staging / MANIFEST_FILE).is_file():
            raise ArtifactError(f"artifact {str(archive)!r} has no {MANIFEST_FILE} at its root")
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)

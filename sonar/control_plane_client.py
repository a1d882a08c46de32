"""Sonar's client of the control plane's REST API: the internal drift-job calls and package downloads.

The drift worker claims, heartbeats, completes and fails jobs under `/api/v1/internal/drift-jobs`; the
worker and the release profiler download a version's package to build its reference. httpx's errors and
unexpected answers become `ControlPlaneError`; 409 on a job call becomes `LeaseLost`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import tempfile
from collections.abc import AsyncIterator
from typing import IO, TYPE_CHECKING, Any

import httpx

from servicekit.credentials import service_token
from servicekit.tls import http_verify
from sonar.errors import ControlPlaneError, LeaseLost, SonarError
from sonar.settings import Settings

if TYPE_CHECKING:
    from sonar.jobs import JobResult

logger = logging.getLogger(__name__)

INTERNAL = "/api/v1/internal/drift-jobs"
MAX_PACKAGE_BYTES = 4 * 1024**3


class ControlPlane:
    """The calls to the control plane's internal drift-job API, as worker `worker`."""

    def __init__(self, http: httpx.AsyncClient, worker: str, lease_s: float) -> None:
        self._http = http
        self._worker = worker
        self._lease_s = max(1, math.ceil(lease_s))  # the control plane takes whole seconds

    async def claim(self) -> dict[str, Any] | None:
        """The next due job (the raw claim answer), or None when nothing is due."""
        response = await self._post(f"{INTERNAL}/claim", {"worker": self._worker, "lease_s": self._lease_s})
        if response.status_code == 204:
            return None
        body = response.json()
        if not isinstance(body, dict):
            raise ControlPlaneError(f"the claim answer is not a JSON object: {body!r}")
        return body

    async def complete(self, job_id: str, result: JobResult) -> None:
        body = {
            "worker": self._worker,
            "summary": finite(result.summary),
            "features": finite(result.features),
            "html": result.html,
        }
        await self._post(f"{INTERNAL}/{job_id}/complete", body)

    async def fail(self, job_id: str, error: str) -> None:
        await self._post(f"{INTERNAL}/{job_id}/fail", {"worker": self._worker, "error": error})

    async def heartbeat(self, job_id: str) -> None:
        await self._post(f"{INTERNAL}/{job_id}/heartbeat", {"worker": self._worker, "lease_s": self._lease_s})

    async def keep_leasing(self, job_id: str) -> None:
        """Renew the lease every third of its length until cancelled (a big window may outlast one lease)."""
        while True:
            await asyncio.sleep(max(self._lease_s / 3, 0.5))
            try:
                await self.heartbeat(job_id)
            except LeaseLost as exc:
                logger.warning("drift job %s: lease lost while running (%s)", job_id, exc)
                return
            except SonarError as exc:
                logger.warning("drift job %s: heartbeat failed: %s", job_id, exc)

    async def package(self, model: str, version: int, endpoint: str | None = None) -> IO[bytes]:
        """The version's package (tar.gz), spooled to a temporary file; the caller closes it."""
        out = tempfile.SpooledTemporaryFile(max_size=64 * 1024**2)  # noqa: SIM115 (returned open)
        url = endpoint or f"/api/v1/models/{model}/versions/{version}/artifact"
        try:
            async with self._http.stream("GET", url) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise ControlPlaneError(
                        f"GET {url} answered {response.status_code}: {_error_text(response)}"
                    )
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_PACKAGE_BYTES:
                        raise ControlPlaneError(
                            f"the package of {model}:{version} is over {MAX_PACKAGE_BYTES} bytes"
                        )
                    out.write(chunk)
        except httpx.HTTPError as exc:
            out.close()
            raise ControlPlaneError(f"cannot download the package of {model}:{version}: {exc!r}") from exc
        except BaseException:
            out.close()
            raise
        out.seek(0)
        return out

    async def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        try:
            response = await self._http.post(path, json=body)
        except httpx.HTTPError as exc:
            raise ControlPlaneError(f"POST {path} failed: {exc!r}") from exc
        if response.status_code == 409:
            raise LeaseLost(f"POST {path}: {_error_text(response)}")
        if response.status_code not in (200, 201, 202, 204):
            raise ControlPlaneError(f"POST {path} answered {response.status_code}: {_error_text(response)}")
        return response


@contextlib.asynccontextmanager
async def open_control_plane(settings: Settings) -> AsyncIterator[ControlPlane]:
    """A client of the control plane at `settings.control_plane_url` presenting the service credential (the
    only credential the drift-job calls and package downloads accept)."""
    headers = {"Authorization": f"Bearer {service_token(settings)}"}
    async with httpx.AsyncClient(
        base_url=settings.control_plane_url.rstrip("/"),
        headers=headers,
        timeout=60,
        verify=http_verify(settings),
    ) as http:
        yield ControlPlane(http, settings.worker_name, settings.drift_lease_s)


def finite(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None, so it is valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    return str(body)[:300]

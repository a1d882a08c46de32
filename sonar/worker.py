"""The drift worker: claims drift jobs from the control plane, runs them, and reports back.

Every ``drift_poll_interval_s`` the worker asks ``POST {cp}/api/v1/internal/drift-jobs/claim`` for a job
(the control plane decides which windows are due and guarantees each runs once; the lease of
``drift_lease_s`` returns a job to the queue if this worker dies). After a job it claims again at once, so a
backlog drains without waiting. A job that cannot run (no training data, unreadable samples, a bad
threshold) is reported with ``.../fail`` and the loop goes on; the control plane being down is logged and
retried at the next poll. 409 on complete or fail means the lease expired and another worker owns the
job: the result is dropped. While a job runs, its lease is renewed every third of ``drift_lease_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import tempfile
from typing import IO, Any

import httpx

from servicekit.object_store import ObjectStore, ObjectStoreError
from sonar.errors import InvalidRequest, SonarError
from sonar.jobs import DriftJob, JobResult, run_job
from sonar.reference import ensure_reference, load_reference
from sonar.settings import SonarSettings

logger = logging.getLogger(__name__)

INTERNAL = "/api/v1/internal/drift-jobs"
REPORT_ATTEMPTS = 3
"""Tries to deliver a job's outcome when the control plane does not answer."""
MAX_PACKAGE_BYTES = 4 * 1024**3


class ControlPlaneError(SonarError):
    """The control plane could not be reached or answered something unexpected."""


class LeaseLost(SonarError):
    """The control plane answered 409: this worker no longer holds the job."""


class ControlPlane:
    """The worker's calls to the control plane's internal drift-job API."""

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


async def run_drift_worker(settings: SonarSettings, store: ObjectStore, stop: asyncio.Event) -> None:
    """Claim and run drift jobs until ``stop`` is set (a job in progress finishes first)."""
    if not settings.drift_enabled:
        logger.info("drift worker disabled (HYDRO_DRIFT_ENABLED=false)")
        return
    token = settings.bearer_token()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(
        base_url=settings.control_plane_url.rstrip("/"), headers=headers, timeout=60
    ) as http:
        control_plane = ControlPlane(http, settings.worker_name, settings.drift_lease_s)
        logger.info("drift worker %s polling %s", settings.worker_name, settings.control_plane_url)
        while not stop.is_set():
            try:
                claimed = await control_plane.claim()
            except SonarError as exc:
                logger.warning("drift worker: cannot claim a job: %s", exc)
                claimed = None
            if claimed is None:
                await _wait(stop, settings.drift_poll_interval_s)
                continue
            await process(control_plane, store, claimed, stop)


async def process(
    control_plane: ControlPlane, store: ObjectStore, claimed: dict[str, Any], stop: asyncio.Event
) -> None:
    """Run one claimed job and report its outcome; never raises (but lets cancellation through)."""
    job_id = str(claimed.get("id"))
    leasing = asyncio.create_task(control_plane.keep_leasing(job_id))
    result: JobResult | None = None
    try:
        result = await compute(control_plane, store, DriftJob.from_claim(claimed))
    except (SonarError, ObjectStoreError) as exc:
        logger.warning("drift job %s failed: %s", job_id, exc)
        error = str(exc)
    except Exception as exc:
        logger.exception("drift job %s failed", job_id)
        error = f"internal error in the drift job ({type(exc).__name__}: {exc})"
    finally:
        leasing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await leasing
    if result is None:
        await _report(stop, job_id, "fail", lambda: control_plane.fail(job_id, error))
        return
    done = result
    logger.info(
        "drift job %s done: %d rows, drifted %s",
        job_id,
        done.summary.get("rows", 0),
        done.summary.get("drifted_features"),
    )
    await _report(stop, job_id, "complete", lambda: control_plane.complete(job_id, done))


async def compute(control_plane: ControlPlane, store: ObjectStore, job: DriftJob) -> JobResult:
    """The job's result: its reference (built now if this version has none yet) against its window."""
    logger.info(
        "drift job %s: %s, %s to %s",
        job.id,
        job.label,
        job.window_start.isoformat(),
        job.window_end.isoformat(),
    )
    if job.training_data is None and await load_reference(store, job.model, job.version) is None:
        raise InvalidRequest(
            f"{job.label} has no training_data in its hydro.yaml: there is no reference to compare with"
        )
    reference = await ensure_reference(
        store,
        job.model,
        job.version,
        lambda: control_plane.package(job.model, job.version, job.artifact_endpoint),
    )
    return await run_job(store, job, reference)


async def _report(stop: asyncio.Event, job_id: str, what: str, call: Any) -> None:
    """Deliver an outcome, retrying while the control plane is unreachable; a lost lease drops it."""
    for attempt in range(1, REPORT_ATTEMPTS + 1):
        try:
            await call()
            return
        except LeaseLost as exc:
            logger.warning("drift job %s: lease lost, %s dropped (%s)", job_id, what, exc)
            return
        except SonarError as exc:
            logger.warning("drift job %s: %s not delivered (try %d): %s", job_id, what, attempt, exc)
            if attempt < REPORT_ATTEMPTS:
                await _wait(stop, 2.0**attempt)
    logger.error("drift job %s: %s given up; the lease will return the job to the queue", job_id, what)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


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

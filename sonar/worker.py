"""The drift worker: claims drift jobs from the control plane, runs them, and reports back.

Every ``drift_poll_interval_s`` the worker asks ``POST {cp}/api/v1/internal/drift-jobs/claim`` for a job
(the control plane decides which windows are due and guarantees each runs once; the lease of
``drift_lease_s`` returns a job to the queue if this worker dies). After a job it claims again at once, so a
backlog drains without waiting. A job that cannot run (no training data, unreadable samples, a bad
threshold) is reported with ``.../fail`` and the loop goes on; the control plane being down is logged and
retried at the next poll.

Before a job reads its window, the worker has the sample buffer of its own process write what it holds of
that version and those hours (``flush``, see :mod:`sonar.buffer`), waiting up to
``drift_flush_timeout_s``: a report counts every record this Sonar acknowledged before the job started.
If some of it still cannot be written (the object store failing), the job fails saying so rather than
report on part of its window. 409 on complete or fail means the lease expired and another worker owns the
job: the result is dropped. While a job runs, its lease is renewed every third of ``drift_lease_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from servicekit.object_store import ObjectStore, ObjectStoreError
from sonar.control_plane_client import ControlPlane, open_control_plane
from sonar.errors import InvalidRequest, LeaseLost, SonarError
from sonar.jobs import DriftJob, JobResult, run_job
from sonar.reference import ensure_reference, load_reference
from sonar.settings import DEFAULT_MIN_ROWS, Settings

logger = logging.getLogger(__name__)

REPORT_ATTEMPTS = 3
"""Tries to deliver a job's outcome when the control plane does not answer."""

Flush = Callable[[str, int, datetime, datetime], Awaitable[int]]
"""Write what is buffered of a version's window; answers how many partitions are still unwritten."""


async def run_drift_worker(
    settings: Settings, store: ObjectStore, stop: asyncio.Event, flush: Flush | None = None
) -> None:
    """Claim and run drift jobs until ``stop`` is set (a job in progress finishes first)."""
    if not settings.drift_enabled:
        logger.info("drift worker disabled (HYDRO_DRIFT_ENABLED=false)")
        return
    async with open_control_plane(settings) as control_plane:
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
            await process(control_plane, store, claimed, stop, flush, settings.drift_min_rows)


async def process(
    control_plane: ControlPlane,
    store: ObjectStore,
    claimed: dict[str, Any],
    stop: asyncio.Event,
    flush: Flush | None = None,
    default_min_rows: int = DEFAULT_MIN_ROWS,
) -> None:
    """Run one claimed job and report its outcome; never raises (but lets cancellation through)."""
    job_id = str(claimed.get("id"))
    leasing = asyncio.create_task(control_plane.keep_leasing(job_id))
    result: JobResult | None = None
    try:
        result = await compute(control_plane, store, DriftJob.from_claim(claimed), flush, default_min_rows)
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
        "drift job %s done: %d rows, %s, drifted %s",
        job_id,
        done.summary.get("rows", 0),
        done.summary.get("verdict"),
        done.summary.get("drifted_features"),
    )
    await _report(stop, job_id, "complete", lambda: control_plane.complete(job_id, done))


async def compute(
    control_plane: ControlPlane,
    store: ObjectStore,
    job: DriftJob,
    flush: Flush | None = None,
    default_min_rows: int = DEFAULT_MIN_ROWS,
) -> JobResult:
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
    if flush is not None:
        unwritten = await flush(job.model, job.version, job.window_start, job.window_end)
        if unwritten:
            raise SonarError(
                f"{unwritten} buffered part(s) of {job.label}'s window could not be written to the object "
                "store in time; the report would miss their records"
            )
    return await run_job(store, job, reference, default_min_rows)


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

"""Drift jobs as Sonar workers see them: claim the next report under a lease, then complete or fail it.

Each (version, window) of a schedule runs once, with any number of Sonar processes and across restarts,
because of the database, not luck:

- Scheduled windows are inserted with INSERT ... ON CONFLICT DO NOTHING under a unique index on
  (version, window, trigger) of scheduled reports; two workers creating the same window create one row.
- A claim is one statement, `UPDATE ... WHERE id = (SELECT id ... LIMIT 1 FOR UPDATE SKIP LOCKED)
  RETURNING id`. On PostgreSQL the row lock makes concurrent claimers skip each other's pick; on SQLite
  (no FOR UPDATE) the statement takes the database's write lock before it reads, which serialises it.
- A running report whose lease expired is claimable again; after `MAX_ATTEMPTS` expired leases it fails.
- Completing (or failing) first updates the row under the condition "running and held by this worker",
  which locks it (the row on PostgreSQL, the database on SQLite) until the result is stored: a worker
  whose lease was taken over gets 409 and cannot overwrite the newer holder's HTML.
- A report whose version was deleted (kept, `version_id` NULL) is never claimed: the deletion fails its
  pending and running reports in the same transaction (see `deletion`), and a claim only picks reports
  whose version exists.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt
from sqlalchemy import and_, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from control_plane.catalog import Catalog
from control_plane.db import insert_ignore
from control_plane.drift_reports import get as get_report
from control_plane.drift_reports import new_id
from control_plane.errors import Conflict, NotFound
from control_plane.metrics import Metrics
from control_plane.monitoring import MAX_COUNTED_SKIPS, due_windows
from control_plane.tables import (
    DriftReport,
    ModelVersion,
    MonitoringSchedule,
    ReportStatus,
    ReportTrigger,
)
from control_plane.timestamps import iso, iso_or_none
from control_plane.validation import parse
from servicekit.object_keys import drift_report_key, package_key
from servicekit.object_store import ObjectStore

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
MAX_LEASE_S = 86400
PREFIX = "/api/v1"


def _worker_name(value: str) -> str:
    if value != value.strip() or not value.isprintable():
        raise ValueError("a worker name must be printable, without leading or trailing spaces")
    return value


Worker = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_worker_name)]


class ClaimSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    worker: Worker
    lease_s: StrictInt = Field(default=300, ge=1, le=MAX_LEASE_S)


class HeartbeatSpec(ClaimSpec):
    pass


class CompleteSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    worker: Worker
    summary: dict[str, Any]
    features: list[Any] | dict[str, Any]
    html: str = Field(min_length=1)


class FailSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    worker: Worker
    error: str = Field(min_length=1, max_length=100_000)


async def materialise(catalog: Catalog, now: datetime, metrics: Metrics | None = None) -> int:
    """Create the windows of every enabled schedule that came due; return how many were new."""
    async with catalog.sessions() as session:
        due = (
            await session.execute(
                select(MonitoringSchedule, ModelVersion.model_name, ModelVersion.version)
                .join(ModelVersion, ModelVersion.id == MonitoringSchedule.version_id)
                .where(MonitoringSchedule.enabled.is_(True), MonitoringSchedule.next_fire_at <= now)
            )
        ).all()
    created = 0
    for schedule, model, number in due:
        owed = await asyncio.to_thread(
            due_windows, schedule.cron, schedule.window_s, schedule.next_fire_at, now, schedule.max_catch_up
        )
        if owed.skipped_older:
            logger.warning(
                "monitoring of version id %d: %d%s windows were missed, more than max_catch_up; "
                "only the newest %d are run",
                schedule.version_id,
                owed.skipped_older + len(owed.windows),
                "+" if owed.skipped_older >= MAX_COUNTED_SKIPS else "",
                schedule.max_catch_up,
            )
            if metrics is not None:
                metrics.drift_windows.labels("skipped").inc(owed.skipped_older)
        async with catalog.sessions() as session, session.begin():
            for start, end in owed.windows:
                values = {
                    "id": new_id(),
                    "model_name": model,
                    "version": number,
                    "version_id": schedule.version_id,
                    "window_start": start,
                    "window_end": end,
                    "trigger": ReportTrigger.SCHEDULE.value,
                    "status": ReportStatus.PENDING.value,
                    "thresholds": schedule.thresholds,
                    "attempts": 0,
                    "created_at": now,
                }
                inserted = await session.scalar(
                    insert_ignore(session, DriftReport, values).returning(DriftReport.id)
                )
                if inserted is not None:
                    created += 1
                    if metrics is not None:
                        metrics.drift_windows.labels("created").inc()
            # Only moves forward from the value read: a concurrent claimer that got here first wins.
            await session.execute(
                update(MonitoringSchedule)
                .where(
                    MonitoringSchedule.version_id == schedule.version_id,
                    MonitoringSchedule.next_fire_at == schedule.next_fire_at,
                    MonitoringSchedule.cron == schedule.cron,
                )
                .values(next_fire_at=owed.next_fire_at)
            )
    return created


async def claim(
    catalog: Catalog, body: Any, now: datetime, metrics: Metrics | None = None
) -> dict[str, Any] | None:
    """Create due scheduled windows, then hand the oldest claimable report to the worker; None if none."""
    spec = parse(ClaimSpec, body, "drift job claim")
    await materialise(catalog, now, metrics)
    expired = and_(DriftReport.status == ReportStatus.RUNNING, DriftReport.lease_expires_at < now)
    async with catalog.sessions() as session, session.begin():
        await session.execute(
            update(DriftReport)
            .where(expired, DriftReport.attempts >= MAX_ATTEMPTS)
            .values(
                status=ReportStatus.FAILED,
                error=literal(f"its lease expired {MAX_ATTEMPTS} times; the last worker was ")
                + DriftReport.claimed_by,
                finished_at=now,
            )
            .execution_options(synchronize_session=False)
        )
    async with catalog.sessions() as session, session.begin():
        pick = (
            select(DriftReport.id)
            .where(
                or_(DriftReport.status == ReportStatus.PENDING, expired), DriftReport.version_id.is_not(None)
            )
            .order_by(DriftReport.created_at, DriftReport.window_start, DriftReport.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        claimed = await session.scalar(
            update(DriftReport)
            .where(DriftReport.id == pick)
            .values(
                status=ReportStatus.RUNNING,
                claimed_by=spec.worker,
                claimed_at=now,
                lease_expires_at=now + timedelta(seconds=spec.lease_s),
                attempts=DriftReport.attempts + 1,
            )
            .returning(DriftReport.id)
            .execution_options(synchronize_session=False)
        )
        if claimed is None:
            return None
        # In the claiming transaction: a deletion of the version waits for it (the report row is locked).
        report = await session.get(DriftReport, claimed)
        assert report is not None and report.version_id is not None
        version = await session.get(ModelVersion, report.version_id)
        assert version is not None
    logger.info("drift report %s claimed by %s", claimed, spec.worker)
    return job(report, version)


def job(report: DriftReport, version: ModelVersion) -> dict[str, Any]:
    """What a worker needs to compute a report: the window, the thresholds, where the training data is."""
    manifest = version.manifest
    model, number = version.model_name, version.version
    return {
        "id": report.id,
        "model": model,
        "version": number,
        "window_start": iso(report.window_start),
        "window_end": iso(report.window_end),
        "trigger": report.trigger,
        "thresholds": report.thresholds,
        "signature": manifest["signature"],
        "training_data": {
            "path": manifest.get("training_data"),
            "package_key": package_key(model, number),
            "package_url": version.artifact_url,
            "artifact_endpoint": f"{PREFIX}/models/{model}/versions/{number}/artifact",
        },
        "worker": report.claimed_by,
        "attempts": report.attempts,
        "claimed_at": iso_or_none(report.claimed_at),
        "lease_expires_at": iso_or_none(report.lease_expires_at),
    }


async def complete(
    catalog: Catalog, store: ObjectStore, report_id: str, body: Any, now: datetime
) -> dict[str, Any]:
    """Store the worker's result (JSON in the row, HTML in the object store); 409 if it lost the lease."""
    spec = parse(CompleteSpec, body, f"completion of drift report {report_id!r}")
    async with catalog.sessions() as session, session.begin():
        held = await _hold(session, report_id, spec.worker)
        key = drift_report_key(held.model_name, held.version, report_id)
        await store.put(key, spec.html.encode())
        await session.execute(
            update(DriftReport)
            .where(DriftReport.id == report_id)
            .values(
                status=ReportStatus.DONE,
                summary=spec.summary,
                features=spec.features,
                html_key=key,
                error=None,
                finished_at=now,
            )
            .execution_options(synchronize_session=False)
        )
    logger.info("drift report %s done by %s", report_id, spec.worker)
    return await get_report(catalog, report_id)


async def fail(catalog: Catalog, report_id: str, body: Any, now: datetime) -> dict[str, Any]:
    """Record that the worker could not compute the report, and why; 409 if it lost the lease."""
    spec = parse(FailSpec, body, f"failure of drift report {report_id!r}")
    async with catalog.sessions() as session, session.begin():
        await _hold(session, report_id, spec.worker)
        await session.execute(
            update(DriftReport)
            .where(DriftReport.id == report_id)
            .values(status=ReportStatus.FAILED, error=spec.error, finished_at=now)
            .execution_options(synchronize_session=False)
        )
    logger.info("drift report %s failed in %s: %s", report_id, spec.worker, spec.error)
    return await get_report(catalog, report_id)


async def heartbeat(catalog: Catalog, report_id: str, body: Any, now: datetime) -> dict[str, Any]:
    """Extend the worker's lease to now + lease_s; 409 if it lost the lease."""
    spec = parse(HeartbeatSpec, body, f"heartbeat of drift report {report_id!r}")
    async with catalog.sessions() as session, session.begin():
        await _hold(session, report_id, spec.worker)
        await session.execute(
            update(DriftReport)
            .where(DriftReport.id == report_id)
            .values(lease_expires_at=now + timedelta(seconds=spec.lease_s))
            .execution_options(synchronize_session=False)
        )
    return await get_report(catalog, report_id)


async def _hold(session: AsyncSession, report_id: str, worker: str) -> DriftReport:
    """Lock the report if it is running under `worker` (until the transaction ends); else 404 / 409."""
    held = await session.scalar(
        update(DriftReport)
        .where(
            DriftReport.id == report_id,
            DriftReport.status == ReportStatus.RUNNING,
            DriftReport.claimed_by == worker,
        )
        .values(attempts=DriftReport.attempts)
        .returning(DriftReport.id)
        .execution_options(synchronize_session=False)
    )
    if held is not None:
        report = await session.get(DriftReport, held)
        assert report is not None
        return report
    report = await session.get(DriftReport, report_id)
    if report is None:
        raise NotFound(f"drift report {report_id!r} does not exist")
    if report.status == ReportStatus.RUNNING:
        raise Conflict(
            f"drift report {report_id!r} is held by worker {report.claimed_by!r}, not {worker!r} "
            "(the lease expired and another worker claimed it); the result was not stored"
        )
    if report.status == ReportStatus.PENDING:
        raise Conflict(f"drift report {report_id!r} is pending: claim it before completing or failing it")
    raise Conflict(
        f"drift report {report_id!r} is already {report.status}"
        + (f" (by worker {report.claimed_by!r})" if report.claimed_by else "")
        + "; the result was not stored"
    )

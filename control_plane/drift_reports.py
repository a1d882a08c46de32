"""Drift reports as users see them: started by hand over a window, listed per version, read one by one.

A report is a row in `drift_reports` (its job state, summary and per-feature results) plus, once done, a
self-contained HTML page in the object store at `reports/{model}/{version}/{id}.html`. Sonar workers
compute them (see `drift_jobs`); the control plane only records and serves them.

A report names its model and version itself, so it outlives a deleted version (unless deleted with
`?purge=true`): it still answers by id, and the version's listing still lists the kept reports.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from sqlalchemy import select

from control_plane.catalog import Catalog
from control_plane.durations import parse_duration
from control_plane.errors import InvalidRequest, NotFound
from control_plane.monitoring import MAX_WINDOW_S, Thresholds, require_training_data, thresholds_of
from control_plane.tables import DriftReport, ReportStatus, ReportTrigger
from control_plane.timestamps import aware, iso, iso_or_none
from control_plane.validation import parse
from control_plane.versions import find
from servicekit.object_store import ObjectStore

PREFIX = "/api/v1"
MAX_LIST = 500


def new_id() -> str:
    return uuid.uuid4().hex


class RunSpec(BaseModel):
    """The body of `POST .../drift-reports`: `since` (a duration back from now) or `start` and `end`."""

    model_config = ConfigDict(extra="forbid")

    since: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    thresholds: Thresholds | None = None

    @field_validator("since")
    @classmethod
    def _since(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must carry a timezone, e.g. 2026-11-23T10:00:00Z")
        try:
            return None if value is None else aware(value)
        except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
            raise ValueError("is out of range once taken to UTC") from None

    @model_validator(mode="after")
    def _one_form(self) -> RunSpec:
        if self.since is not None and (self.start is not None or self.end is not None):
            raise ValueError("give either 'since' or 'start' and 'end', not both")
        if self.since is None and (self.start is None or self.end is None):
            missing = "end" if self.start is not None else "start"
            if self.start is None and self.end is None:
                raise ValueError("give the window as 'since' (e.g. '1h') or as 'start' and 'end' (ISO-8601)")
            raise ValueError(f"'{missing}' is missing: give both 'start' and 'end', or 'since'")
        return self

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        """[start, end) in UTC; InvalidRequest naming the field if it is empty, too long or in the future."""
        if self.since is not None:
            seconds = parse_duration(self.since)
            if seconds > MAX_WINDOW_S:
                raise InvalidRequest(f"since: {self.since!r} is longer than the longest window, 366 days")
            end = ceil_to_millisecond(now)
            return end - timedelta(seconds=seconds), end
        assert self.start is not None and self.end is not None
        start, end = aware(self.start), aware(self.end)
        if start >= end:
            raise InvalidRequest(f"start ({iso(start)}) must be before end ({iso(end)})")
        if end > now:
            raise InvalidRequest(
                f"end ({iso(end)}) is in the future (now is {iso(now)}); the window must be over"
            )
        if end - start > timedelta(seconds=MAX_WINDOW_S):
            raise InvalidRequest("the window from start to end is longer than the longest window, 366 days")
        return start, end


def ceil_to_millisecond(moment: datetime) -> datetime:
    """`moment` rounded up to its next whole millisecond. Records carry millisecond times; a window that
    ended at a whole second before `now` would leave out what was sampled in the last fraction of it (a
    report asked for right after traffic missed up to a second of it)."""
    spare = moment.microsecond % 1000
    return moment if spare == 0 else moment + timedelta(microseconds=1000 - spare)


def describe(report: DriftReport, *, features: bool = True) -> dict[str, Any]:
    """The API's view of a report; listings leave out the per-feature results."""
    body: dict[str, Any] = {
        "id": report.id,
        "model": report.model_name,
        "version": report.version,
        "window_start": iso(report.window_start),
        "window_end": iso(report.window_end),
        "trigger": report.trigger,
        "status": report.status,
        "thresholds": report.thresholds,
        "summary": report.summary,
        "error": report.error,
        "worker": report.claimed_by,
        "attempts": report.attempts,
        "claimed_at": iso_or_none(report.claimed_at),
        "lease_expires_at": iso_or_none(report.lease_expires_at),
        "html_url": f"{PREFIX}/drift-reports/{report.id}/html" if report.html_key else None,
        "created_at": iso(report.created_at),
        "finished_at": iso_or_none(report.finished_at),
    }
    if features:
        body["features"] = report.features
    return body


async def run(catalog: Catalog, model: str, number: int, body: Any, now: datetime) -> dict[str, Any]:
    """Record a pending report of `model:number` over the window in `body`; a Sonar worker picks it up."""
    version = await find(catalog, model, number)
    spec = parse(RunSpec, body, f"drift report of {model}:{number}")
    start, end = spec.window(now)
    require_training_data(version)
    thresholds = (
        spec.thresholds.to_json() if spec.thresholds is not None else await thresholds_of(catalog, version.id)
    )
    report = DriftReport(
        id=new_id(),
        model_name=version.model_name,
        version=version.version,
        version_id=version.id,
        window_start=start,
        window_end=end,
        trigger=ReportTrigger.MANUAL,
        status=ReportStatus.PENDING,
        thresholds=thresholds,
        attempts=0,
        created_at=now,
    )
    async with catalog.sessions() as session, session.begin():
        session.add(report)
    return await get(catalog, report.id)


async def load(catalog: Catalog, report_id: str) -> DriftReport:
    async with catalog.sessions() as session:
        report = await session.get(DriftReport, report_id)
    if report is None:
        raise NotFound(f"drift report {report_id!r} does not exist")
    return report


async def get(catalog: Catalog, report_id: str) -> dict[str, Any]:
    return describe(await load(catalog, report_id))


async def list_for(
    catalog: Catalog, model: str, number: int, *, limit: int, status: str | None
) -> dict[str, Any]:
    """The version's reports, newest first (without per-feature results). A deleted version whose reports
    were kept lists them; one without any is a 404, as a version that never existed."""
    if status is not None and status not in set(ReportStatus):
        raise InvalidRequest(f"status must be one of {', '.join(ReportStatus)}, got {status!r}")
    query = (
        select(DriftReport)
        .where(DriftReport.model_name == model, DriftReport.version == number)
        .order_by(DriftReport.created_at.desc(), DriftReport.window_start.desc(), DriftReport.id)
        .limit(limit)
    )
    if status is not None:
        query = query.where(DriftReport.status == status)
    async with catalog.sessions() as session:
        reports = (await session.scalars(query)).all()
        any_report = bool(reports) or await session.scalar(
            select(DriftReport.id)
            .where(DriftReport.model_name == model, DriftReport.version == number)
            .limit(1)
        )
    if not any_report:
        await find(catalog, model, number)  # 404 unless the version exists
    return {
        "model": model,
        "version": number,
        "drift_reports": [describe(report, features=False) for report in reports],
    }


async def html(catalog: Catalog, store: ObjectStore, report_id: str) -> AsyncIterator[bytes]:
    """The report's HTML page in chunks; NotFound saying why when there is none (yet)."""
    report = await load(catalog, report_id)
    if report.status == ReportStatus.FAILED:
        raise NotFound(f"drift report {report_id!r} failed, so it has no HTML: {report.error}")
    if report.status != ReportStatus.DONE:
        raise NotFound(
            f"drift report {report_id!r} is {report.status}: "
            "its HTML exists once a Sonar worker has finished it"
        )
    if not report.html_key:
        raise NotFound(f"drift report {report_id!r} is done but its worker stored no HTML")
    return store.stream(report.html_key)

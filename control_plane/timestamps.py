"""Time values as the catalog stores them and the API shows them: aware datetimes in UTC, ISO 8601 text.

SQLite hands back naive datetimes; they are UTC by the way they were written, so `aware` takes them as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The wall-clock time, aware, in UTC: what rows are stamped with (schedules and leases use the State's
    clock instead, `control_plane.clock`)."""
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """`value` in UTC; a naive value is taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso(value: datetime) -> str:
    """`value` as the API shows it: ISO 8601 in UTC with a `Z`, e.g. `2026-11-23T10:00:00Z`."""
    return aware(value).isoformat().replace("+00:00", "Z")


def iso_or_none(value: datetime | None) -> str | None:
    return None if value is None else iso(value)

"""Timestamps as the API shows them: ISO 8601 in UTC (SQLite hands back naive datetimes, taken as UTC)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

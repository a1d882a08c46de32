"""The control plane's notion of now. It lives in the State, so tests run schedules on a clock they move."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware, in UTC."""


def system_clock() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """`value` in UTC; SQLite hands back naive datetimes, which are UTC by the way they were written."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)

"""The audit trail: every write call to the REST API, refused ones included, newest first.

`api.guard` records an event per write (who by token name and role, method, path, status, the error's
message); admins page through them with `GET /api/v1/audit`. Successful service-credential calls under
`/api/v1/internal/` are left out (Sonar polls every few seconds); refused ones are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from control_plane.bounded_numbers import bounded_int
from control_plane.db import Sessions
from control_plane.errors import InvalidRequest
from control_plane.tables import AuditEvent
from control_plane.timestamps import iso

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_EVENT_ID = 2**63 - 1
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class Event:
    at: datetime
    token: str | None
    role: str | None
    method: str
    path: str
    status: int
    error: str | None


async def record(sessions: Sessions, event: Event) -> None:
    error = None if event.error is None else event.error[:MAX_ERROR_CHARS]
    async with sessions() as session, session.begin():
        session.add(
            AuditEvent(
                at=event.at,
                token=event.token,
                role=event.role,
                method=event.method,
                path=event.path,
                status=event.status,
                error=error,
            )
        )


def describe(row: AuditEvent) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": iso(row.at),
        "token": row.token,
        "role": row.role,
        "method": row.method,
        "path": row.path,
        "status": row.status,
        "error": row.error,
    }


def page_arguments(limit: str | None, before: str | None) -> tuple[int, int | None]:
    """`limit` (1..MAX_LIMIT, default DEFAULT_LIMIT) and `before` (an event id) from the query string."""
    size = DEFAULT_LIMIT if limit is None else bounded_int(limit, 1, MAX_LIMIT)
    if size is None:
        raise InvalidRequest(f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}")
    if before is None:
        return size, None
    cursor = bounded_int(before, 1, MAX_EVENT_ID)
    if cursor is None:
        raise InvalidRequest(f"before must be an event id (a positive integer), got {before!r}")
    return size, cursor


async def page(sessions: Sessions, limit: int, before: int | None) -> dict[str, Any]:
    """Up to `limit` events older than event `before` (all when None), newest first, and the `next` cursor."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(AuditEvent.id < before)
    async with sessions() as session:
        rows = list(await session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return {"events": [describe(row) for row in rows], "next": rows[-1].id if more else None}

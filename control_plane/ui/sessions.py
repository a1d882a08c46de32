"""Web UI sessions, kept server-side: a login makes one, logout deletes it, expiry ends it.

The browser holds a random session id in an HttpOnly cookie; the table keeps only its SHA-256 digest, the
name and role of the API token that logged in, and the expiry. A session counts only while its token does:
revoking the token (or re-creating one under the same name) ends every session it opened, since the stored
token must exist with the same role and be older than the session. The bootstrap admin token taken from
HYDRO_ADMIN_TOKEN is not stored, so its sessions depend on expiry and logout alone.

The CSRF token of a session is derived from its id (a keyed digest): it is as unguessable as the id, yet
needs no column, and a page can carry it in its forms without the id ever leaving the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from control_plane.auth import ADMIN, Principal
from control_plane.db import Sessions
from control_plane.tables import ApiToken, UiSession
from control_plane.timestamps import aware, utcnow


@dataclass(frozen=True)
class Login:
    """A live session: who it acts as, until when, and the token its forms must carry."""

    principal: Principal
    expires_at: datetime
    csrf: str


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def csrf_of(session_id: str) -> str:
    return hmac.new(session_id.encode(), b"hydro-ui-csrf", hashlib.sha256).hexdigest()


def csrf_matches(login: Login, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(login.csrf, presented)


async def start(sessions: Sessions, principal: Principal, now: datetime, hours: float) -> tuple[str, Login]:
    """A new session for `principal`, expiring `hours` after `now` (the State's clock): its id (for the
    cookie, never stored) and the login it opens.
    Expired sessions are swept here, so the table holds only live ones and those not yet swept."""
    session_id = secrets.token_urlsafe(32)
    expires_at = now + timedelta(hours=hours)
    async with sessions() as session, session.begin():
        await session.execute(delete(UiSession).where(UiSession.expires_at <= now))
        session.add(
            UiSession(
                id_sha256=_digest(session_id),
                token=principal.name,
                role=principal.role,
                created_at=utcnow(),  # wall time, as the token's own created_at (`now` may be a test's)
                expires_at=expires_at,
            )
        )
    return session_id, Login(principal, expires_at, csrf_of(session_id))


async def find(
    sessions: Sessions, session_id: str | None, now: datetime, *, admin_from_environment: bool
) -> Login | None:
    """The live session of this id, or None (unknown, logged out, expired, or its token revoked). One
    query: the session joined with its stored token."""
    if not session_id:
        return None
    async with sessions() as session:
        found = (
            await session.execute(
                select(UiSession, ApiToken.created_at)
                .outerjoin(ApiToken, ApiToken.name == UiSession.token)
                .where(UiSession.id_sha256 == _digest(session_id))
            )
        ).one_or_none()
    if found is None:
        return None
    row, token_created_at = found
    if aware(row.expires_at) <= now:
        return None
    from_environment = admin_from_environment and row.token == ADMIN
    if not from_environment and (token_created_at is None or aware(token_created_at) > aware(row.created_at)):
        return None
    return Login(Principal(row.token, row.role), aware(row.expires_at), csrf_of(session_id))


async def end(sessions: Sessions, session_id: str) -> None:
    async with sessions() as session, session.begin():
        await session.execute(delete(UiSession).where(UiSession.id_sha256 == _digest(session_id)))

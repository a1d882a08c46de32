"""Bearer tokens for write calls.

The token is `HYDRO_ADMIN_TOKEN` when set. Otherwise one is generated on the first start, only its
SHA-256 is stored in the database, and the token itself is printed once to stderr and written to
`{HYDRO_HOME}/token` (mode 0600), where the CLI finds it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from control_plane.db import Sessions, insert_ignore
from control_plane.errors import Unauthorized
from control_plane.settings import Settings
from control_plane.tables import ApiToken
from control_plane.timestamps import utcnow

logger = logging.getLogger(__name__)

ADMIN = "admin"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenCheck:
    """Checks `Authorization` headers against the SHA-256 digests of the accepted tokens."""

    def __init__(self, digests: list[str]) -> None:
        self._digests = digests

    def verify(self, authorization: str | None) -> None:
        """Return if the header carries an accepted token; raise Unauthorized naming the problem."""
        if not authorization:
            raise Unauthorized(
                "missing Authorization header: write calls need 'Authorization: Bearer <token>'"
            )
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            raise Unauthorized(
                f"the Authorization header must be 'Bearer <token>', not a {scheme!r} credential"
            )
        token = token.strip()
        if not token:
            raise Unauthorized("the Authorization header has an empty bearer token")
        presented = digest(token)
        matches = [hmac.compare_digest(presented, accepted) for accepted in self._digests]
        if not any(matches):
            raise Unauthorized("the bearer token is not valid")


async def load_tokens(settings: Settings, sessions: Sessions) -> TokenCheck:
    """The accepted tokens; generates, stores (hashed) and announces the admin token on first start."""
    if settings.admin_token is not None and settings.admin_token.get_secret_value():
        return TokenCheck([digest(settings.admin_token.get_secret_value())])
    async with sessions() as session:
        existing = await session.get(ApiToken, ADMIN)
        if existing is not None:
            if not settings.token_file.exists():
                logger.warning(
                    "the admin token was generated earlier and is stored only hashed; %s is missing. "
                    "Set HYDRO_ADMIN_TOKEN to choose a token instead.",
                    settings.token_file,
                )
            return TokenCheck([existing.token_sha256])
    token = secrets.token_urlsafe(32)
    async with sessions() as session, session.begin():
        await session.execute(
            insert_ignore(
                session, ApiToken, {"name": ADMIN, "token_sha256": digest(token), "created_at": utcnow()}
            )
        )
    stored = await _stored_digest(sessions)
    if hmac.compare_digest(stored, digest(token)):  # we won any race with another starting process
        path = write_token_file(settings.token_file, token)
        print(
            f"Hydro admin token (shown once; also written to {path}):\n  {token}",
            file=sys.stderr,
            flush=True,
        )
    return TokenCheck([stored])


async def _stored_digest(sessions: Sessions) -> str:
    async with sessions() as session:
        row = await _admin(session)
        return row.token_sha256


async def _admin(session: AsyncSession) -> ApiToken:
    row = await session.get(ApiToken, ADMIN)
    assert row is not None
    return row


def write_token_file(path: Path, token: str) -> Path:
    """Write `token` to `path` (`{home}/token`), readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (token + "\n").encode())
    finally:
        os.close(fd)
    return path

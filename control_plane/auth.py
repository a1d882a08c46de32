"""Who is calling, and what they may do: bearer tokens with roles, and the service credential.

Every `/api/v1` route declares its `Access` where it is declared (`api.common.ApiRoute`); the `api.guard`
middleware asks `TokenCheck.identify` who presented the `Authorization` header and `authorize` whether
that principal may pass. Three kinds of credential:

- API tokens, stored only as their SHA-256 digest, each with a `Role`: viewer (reads), deployer (reads and
  catalog writes), admin (everything, including tokens and the audit trail);
- the bootstrap admin token: `HYDRO_ADMIN_TOKEN` when set (never stored, cannot be revoked), otherwise
  generated on the first start (no admin token stored yet), stored hashed as the token `admin`, printed
  once to stderr and written to `{HYDRO_HOME}/token` (mode 0600), where the CLI finds it;
- the service credential (`servicekit.credentials.service_token`), which opens only what the services
  need (package downloads, Sonar's drift-job calls) and nothing else, not even for an admin.

Every comparison is constant-time: the presented token's digest is compared with every stored digest
(no early exit, no lookup by the secret), the service credential with `credentials.matches`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sqlalchemy import select

from control_plane.db import Sessions, insert_ignore
from control_plane.errors import Forbidden, Unauthorized
from control_plane.settings import Settings
from control_plane.tables import ApiToken, Role
from control_plane.timestamps import utcnow
from servicekit.credentials import SERVICE_PRINCIPAL, matches, service_token

logger = logging.getLogger(__name__)

ADMIN = "admin"
"""The name of the bootstrap admin token (stored when generated, or HYDRO_ADMIN_TOKEN's principal)."""

_RANK = {Role.VIEWER: 0, Role.DEPLOYER: 1, Role.ADMIN: 2}


class Access(StrEnum):
    """Who may call a route."""

    PUBLIC = "public"
    """Anyone, without a token (health)."""
    VIEWER = "viewer"
    """Any API token: viewer, deployer or admin."""
    DEPLOYER = "deployer"
    """Deployer and admin tokens."""
    ADMIN = "admin"
    """Admin tokens only."""
    SERVICE = "service"
    """The service credential only; no API token, not even an admin's."""


@dataclass(frozen=True)
class Principal:
    """Who presented a valid credential: a token's name and role, or the services (`service`, `service`)."""

    name: str
    role: str

    @property
    def is_service(self) -> bool:
        return self.role == SERVICE_PRINCIPAL


SERVICE = Principal(SERVICE_PRINCIPAL, SERVICE_PRINCIPAL)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def authorize(principal: Principal, access: Access, call: str) -> None:
    """Return if `principal` may make `call` (e.g. `PUT /api/v1/applications/x`) under `access`; raise
    Forbidden naming the credential or role it needs otherwise."""
    if access is Access.PUBLIC:
        return
    if access is Access.SERVICE:
        if not principal.is_service:
            raise Forbidden(
                f"{call} needs the service credential (HYDRO_SERVICE_TOKEN); "
                f"the token {principal.name!r} has the {principal.role} role"
            )
        return
    if principal.is_service:
        raise Forbidden(
            f"{call} needs the {access.value} role; the service credential opens only package downloads "
            "and drift-job calls"
        )
    needed = Role(access.value)
    role = Role(principal.role) if principal.role in _RANK else Role.VIEWER
    if _RANK[role] < _RANK[needed]:
        raise Forbidden(
            f"{call} needs the {needed.value} role; "
            f"the token {principal.name!r} has the {principal.role} role"
        )


class TokenCheck:
    """Identifies the principal behind an `Authorization` header, reading the stored tokens each time (so a
    token created or revoked by any control plane process counts at once)."""

    def __init__(self, sessions: Sessions, *, admin_digest: str | None, service: str) -> None:
        self._sessions = sessions
        self._admin_digest = admin_digest
        self._service = service

    @property
    def admin_from_environment(self) -> bool:
        """Whether the bootstrap admin token is HYDRO_ADMIN_TOKEN (not stored; the stored `admin` row, if a
        generated one is left from earlier, does not log in)."""
        return self._admin_digest is not None

    async def identify(self, authorization: str | None) -> Principal:
        """The principal of the header's bearer token; raise Unauthorized naming the problem."""
        token = _bearer(authorization)
        if matches(token, self._service):
            return SERVICE
        presented = digest(token)
        found: Principal | None = None
        if self._admin_digest is not None and hmac.compare_digest(presented, self._admin_digest):
            found = Principal(ADMIN, Role.ADMIN)
        for name, role, stored in await self._stored():
            if hmac.compare_digest(presented, stored) and found is None:
                found = Principal(name, role)
        if found is None:
            raise Unauthorized("the bearer token is not valid")
        return found

    async def _stored(self) -> list[tuple[str, str, str]]:
        """(name, role, digest) of every token that can log in."""
        async with self._sessions() as session:
            rows = await session.execute(select(ApiToken.name, ApiToken.role, ApiToken.token_sha256))
            return [
                (name, role, stored)
                for name, role, stored in rows
                if not (self.admin_from_environment and name == ADMIN)
            ]


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("missing Authorization header: API calls need 'Authorization: Bearer <token>'")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthorized(f"the Authorization header must be 'Bearer <token>', not a {scheme!r} credential")
    token = token.strip()
    if not token:
        raise Unauthorized("the Authorization header has an empty bearer token")
    return token


async def load_tokens(settings: Settings, sessions: Sessions) -> TokenCheck:
    """The token check; generates, stores (hashed) and announces the admin token on the first start."""
    service = service_token(settings)
    if settings.admin_token is not None and settings.admin_token.get_secret_value():
        return TokenCheck(
            sessions, admin_digest=digest(settings.admin_token.get_secret_value()), service=service
        )
    check = TokenCheck(sessions, admin_digest=None, service=service)
    async with sessions() as session:
        admins = (await session.scalars(select(ApiToken.name).where(ApiToken.role == Role.ADMIN))).all()
    if admins:
        if ADMIN in admins and not settings.token_file.exists():
            logger.warning(
                "the admin token was generated earlier and is stored only hashed; %s is missing. "
                "Set HYDRO_ADMIN_TOKEN to choose a token instead.",
                settings.token_file,
            )
        return check
    token = secrets.token_urlsafe(32)
    async with sessions() as session, session.begin():
        await session.execute(
            insert_ignore(
                session,
                ApiToken,
                {"name": ADMIN, "token_sha256": digest(token), "role": Role.ADMIN, "created_at": utcnow()},
            )
        )
    async with sessions() as session:
        stored = await session.get(ApiToken, ADMIN)
    if stored is not None and hmac.compare_digest(stored.token_sha256, digest(token)):
        # we won any race with another starting process
        path = write_token_file(settings.token_file, token)
        print(
            f"Hydro admin token (shown once; also written to {path}):\n  {token}",
            file=sys.stderr,
            flush=True,
        )
    return check


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

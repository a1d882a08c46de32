"""API tokens, as admins manage them: create (the secret is answered once), list, revoke.

The catalog keeps a token's name, role and SHA-256 digest; the secret itself appears only in the answer that
created it. Tokens are not part of the routing snapshot, so these writes do not move the catalog revision.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from control_plane.auth import ADMIN, digest
from control_plane.db import Sessions
from control_plane.errors import Conflict, InvalidRequest, NotFound
from control_plane.names import check_name
from control_plane.tables import ApiToken, Role
from control_plane.timestamps import iso, utcnow

TOKEN_PREFIX = "ht_"
ROLES = ", ".join(role.value for role in Role)


def describe(row: ApiToken) -> dict[str, Any]:
    """A token as listings show it: never the secret, never its digest."""
    return {"name": row.name, "role": row.role, "created_at": iso(row.created_at)}


def parse(body: Any) -> tuple[str, Role]:
    """The name and role of a `POST /tokens` body."""
    if not isinstance(body, dict):
        raise InvalidRequest('the body must be a JSON object: {"name": "...", "role": "viewer"}')
    unknown = sorted(set(body) - {"name", "role"})
    if unknown:
        raise InvalidRequest(f"unknown field(s) {', '.join(map(repr, unknown))}; a token has name and role")
    name, role = body.get("name"), body.get("role")
    if not isinstance(name, str):
        raise InvalidRequest("name is required: a DNS label such as 'ci-deployer'")
    check_name(name, "token name")
    if role not in tuple(Role):
        raise InvalidRequest(f"role must be one of {ROLES}, got {role!r}")
    return name, Role(role)


async def create(sessions: Sessions, body: Any) -> dict[str, Any]:
    """A new token; the answer is the only place its secret ever appears."""
    name, role = parse(body)
    if name == ADMIN:
        raise Conflict(f"the token name {ADMIN!r} is kept for the bootstrap admin token; choose another name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, role=role.value, token_sha256=digest(token), created_at=utcnow())
    try:
        async with sessions() as session, session.begin():
            if await session.get(ApiToken, name) is not None:
                raise Conflict(
                    f"a token named {name!r} exists already; revoke it first or choose another name"
                )
            session.add(row)
    except IntegrityError:
        raise Conflict(
            f"a token named {name!r} exists already; revoke it first or choose another name"
        ) from None
    return {"name": name, "role": role.value, "token": token}


async def list_all(sessions: Sessions) -> list[dict[str, Any]]:
    async with sessions() as session:
        rows = await session.scalars(select(ApiToken).order_by(ApiToken.created_at, ApiToken.name))
        return [describe(row) for row in rows]


async def revoke(sessions: Sessions, name: str, *, admin_from_environment: bool) -> None:
    """Delete the token; it is refused from the next call on. The last admin token that can log in stays."""
    async with sessions() as session, session.begin():
        admins = (
            await session.scalars(select(ApiToken.name).where(ApiToken.role == Role.ADMIN).with_for_update())
        ).all()
        row = await session.get(ApiToken, name)
        if row is None:
            if name == ADMIN and admin_from_environment:
                raise NotFound(
                    f"token {ADMIN!r} is HYDRO_ADMIN_TOKEN from the control plane's environment: it is not "
                    "stored and cannot be revoked; change or unset the variable and restart instead"
                )
            raise NotFound(f"token {name!r} does not exist")
        if row.role == Role.ADMIN:
            others = [a for a in admins if a != name and not (admin_from_environment and a == ADMIN)]
            if not others and not admin_from_environment:
                raise Conflict(
                    f"revoking {name!r} would leave no admin token that can log in; create another admin "
                    "token first (hydro tokens create NAME --role admin)"
                )
        await session.delete(row)

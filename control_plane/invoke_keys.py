"""Invoke keys: secrets that open one application at the router when it sets `require_invoke_key`.

A key is shown once, when it is created; the catalog keeps only its SHA-256 hex digest and a short
prefix for listings. Creating or revoking a key is a catalog write, so the revision moves and routers
receive the new set of digests in their next snapshot at once.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlalchemy import select

from control_plane.catalog import Catalog
from control_plane.errors import NotFound
from control_plane.tables import Application, InvokeKey
from control_plane.timestamps import iso, utcnow

KEY_PREFIX = "hk_"
PREFIX_LENGTH = len(KEY_PREFIX) + 6


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def describe(row: InvokeKey) -> dict[str, Any]:
    """A key as listings show it: never the key itself."""
    return {
        "id": row.id,
        "prefix": row.prefix,
        "application": row.application_name,
        "created_at": iso(row.created_at),
    }


async def create(catalog: Catalog, application: str) -> dict[str, Any]:
    """A new key for `application`; the answer is the only place the key itself ever appears."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    async with catalog.write() as session:
        if await session.get(Application, application) is None:
            raise NotFound(f"application {application!r} does not exist")
        row = InvokeKey(
            id=secrets.token_hex(8),
            application_name=application,
            key_sha256=digest(key),
            prefix=key[:PREFIX_LENGTH],
            created_at=utcnow(),
        )
        session.add(row)
        await session.flush()
    return {**describe(row), "key": key}


async def list_all(catalog: Catalog, application: str) -> list[dict[str, Any]]:
    async with catalog.sessions() as session:
        if await session.get(Application, application) is None:
            raise NotFound(f"application {application!r} does not exist")
        rows = await session.scalars(
            select(InvokeKey)
            .where(InvokeKey.application_name == application)
            .order_by(InvokeKey.created_at, InvokeKey.id)
        )
        return [describe(row) for row in rows]


async def revoke(catalog: Catalog, application: str, key_id: str) -> None:
    """Delete the key; routers refuse it from their next snapshot on."""
    async with catalog.write() as session:
        if await session.get(Application, application) is None:
            raise NotFound(f"application {application!r} does not exist")
        row = await session.get(InvokeKey, key_id)
        if row is None or row.application_name != application:
            raise NotFound(f"invoke key {key_id!r} of application {application!r} does not exist")
        await session.delete(row)

"""A version's build log as the API serves it: at once, or followed while the build runs.

While a version is queued its log ends with a line saying how many versions wait before it
(`queued: 3 ahead`). Following streams the log as chunked text: what is already there, then what is
added, read from the builder's memory when this control plane runs the build (every 0.2 s) and from the
catalog otherwise (another control plane builds it and stores its log with each lease renewal; every
second); it ends when the version is released or failed, after its last line. A log only grows (a new
attempt starts from the log of the one before), so the stream sends what lies past what it has sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from control_plane import build_claims, versions
from control_plane.builder import Builder
from control_plane.catalog import Catalog
from control_plane.errors import NotFound
from control_plane.tables import ModelVersion, VersionStatus

logger = logging.getLogger(__name__)

TEXT = "text/plain; charset=utf-8"
_LIVE_POLL_S = 0.2
_CATALOG_POLL_S = 1.0


async def now(catalog: Catalog, builder: Builder, row: ModelVersion) -> str:
    """The log as it is now (with the queue line while the version waits)."""
    live = builder.live_log(row.id)
    if live is not None:
        return live
    if row.status == VersionStatus.PENDING:
        return row.log + _queued(await build_claims.queued_ahead(catalog, row.id))
    return row.log


async def follow(catalog: Catalog, builder: Builder, row: ModelVersion) -> AsyncIterator[str]:
    """The log as it grows, until the build ends."""
    sent = 0
    ahead: int | None = None
    model, version = row.model_name, row.version
    while True:
        live = builder.live_log(row.id)
        if live is not None:
            text, status = live, VersionStatus.BUILDING
        else:
            try:
                current = await versions.find(catalog, model, version)
            except NotFound:
                yield f"{model}:{version} was deleted\n"
                return
            text, status = current.log, VersionStatus(current.status)
        if len(text) > sent:
            yield text[sent:]
            sent = len(text)
        if status in (VersionStatus.RELEASED, VersionStatus.FAILED):
            return
        if status == VersionStatus.PENDING:
            waiting = await build_claims.queued_ahead(catalog, row.id)
            if waiting != ahead:
                ahead = waiting
                yield _queued(waiting)
        await asyncio.sleep(_LIVE_POLL_S if live is not None else _CATALOG_POLL_S)


def _queued(ahead: int) -> str:
    return f"queued: {ahead} ahead\n"

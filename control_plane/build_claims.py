"""The build queue in the catalog: which version is built next, by which control plane, and for how long.

Every version waiting to be built is a row in `pending`, in upload order (its id); the catalog is the
queue, so every control plane sharing the database sees the same one. A control plane with a free build
slot claims the oldest claimable version with one conditional UPDATE (compare-and-set on its status and
attempt count): of two processes racing for a row exactly one updates it, the other sees no row changed
and tries the next. A claim moves the version to `building`, counts the attempt (`build_attempts`) and
holds a lease (`build_lease_until`) that the builder renews while it works, writing the log so far with
it. A version left `building` with an expired lease was being built by a control plane that died; it is
claimable again, as the next attempt. A graceful shutdown hands its builds back (`pending`) at once. A
version whose attempts are used up is failed with that reason instead of being claimed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select, update

from control_plane.catalog import Catalog
from control_plane.tables import ModelVersion, VersionStatus
from control_plane.timestamps import utcnow
from control_plane.versions import VersionRef

_CANDIDATES = 16


@dataclass(frozen=True)
class Claim:
    """A version this control plane now builds: which attempt it is and the log earlier attempts left."""

    ref: VersionRef
    attempt: int
    earlier_log: str


def _claimable(now: datetime) -> ColumnElement[bool]:
    return or_(
        ModelVersion.status == VersionStatus.PENDING,
        and_(ModelVersion.status == VersionStatus.BUILDING, ModelVersion.build_lease_until < now),
    )


async def claim_next(catalog: Catalog, *, lease_s: float, max_attempts: int) -> Claim | None:
    """Claim the oldest claimable version for this control plane, or None when none is left.

    Versions whose attempts are used up are failed on the way (with the reason in their log)."""
    while True:
        now = utcnow()
        async with catalog.sessions() as session:
            rows = (
                await session.scalars(
                    select(ModelVersion).where(_claimable(now)).order_by(ModelVersion.id).limit(_CANDIDATES)
                )
            ).all()
        if not rows:
            return None
        for row in rows:
            if row.build_attempts >= max_attempts:
                await _give_up(catalog, row, now, max_attempts)
                continue
            attempt = row.build_attempts + 1
            async with catalog.write() as session:
                claimed = await session.execute(
                    update(ModelVersion)
                    .where(
                        ModelVersion.id == row.id,
                        ModelVersion.build_attempts == row.build_attempts,
                        _claimable(now),
                    )
                    .values(
                        status=VersionStatus.BUILDING,
                        build_attempts=attempt,
                        build_lease_until=now + timedelta(seconds=lease_s),
                        updated_at=now,
                    )
                )
            if claimed.rowcount == 1:  # type: ignore[attr-defined]
                return Claim(VersionRef(row.id, row.model_name, row.version), attempt, row.log)
        # Every candidate was taken by another control plane meanwhile: look again.


async def _give_up(catalog: Catalog, row: ModelVersion, now: datetime, max_attempts: int) -> None:
    reason = (
        f"the build was started {row.build_attempts} times and interrupted each time "
        f"(HYDRO_BUILD_MAX_ATTEMPTS={max_attempts}); upload the package again"
    )
    async with catalog.write() as session:
        await session.execute(
            update(ModelVersion)
            .where(
                ModelVersion.id == row.id,
                ModelVersion.build_attempts == row.build_attempts,
                _claimable(now),
            )
            .values(
                status=VersionStatus.FAILED,
                error=reason,
                log=(row.log + "\n" if row.log and not row.log.endswith("\n") else row.log) + reason + "\n",
                build_lease_until=None,
                updated_at=now,
            )
        )


async def renew(catalog: Catalog, logs: Mapping[int, str], *, lease_s: float) -> None:
    """Extend the leases of the versions this control plane builds, storing each one's log so far.

    Not a catalog change (no revision bump): nothing a watcher needs moves."""
    until = utcnow() + timedelta(seconds=lease_s)
    async with catalog.sessions() as session, session.begin():
        for version_id, text in logs.items():
            await session.execute(
                update(ModelVersion)
                .where(ModelVersion.id == version_id, ModelVersion.status == VersionStatus.BUILDING)
                .values(build_lease_until=until, log=text)
            )


async def hand_back(catalog: Catalog, logs: Mapping[int, str]) -> None:
    """Return builds a shutdown interrupts to the queue (`pending`), with their logs so far."""
    if not logs:
        return
    async with catalog.write() as session:
        for version_id, text in logs.items():
            await session.execute(
                update(ModelVersion)
                .where(ModelVersion.id == version_id, ModelVersion.status == VersionStatus.BUILDING)
                .values(status=VersionStatus.PENDING, build_lease_until=None, log=text, updated_at=utcnow())
            )


async def queued_ahead(catalog: Catalog, version_id: int) -> int:
    """How many versions wait in the queue before this pending one."""
    async with catalog.sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(ModelVersion)
            .where(ModelVersion.status == VersionStatus.PENDING, ModelVersion.id < version_id)
        )
    return int(count or 0)

"""Deleting model versions, models and deployment configs: refused while in use, never half-written.

The order is what makes a deletion safe. First one catalog transaction checks that no application uses
the thing (else Conflict naming each application, stage and variant) and deletes its rows: the version's
monitoring schedule goes with it; its drift reports are kept (their pending and running ones failed, since
no worker can compute them any more) unless `purge` deletes them too. That transaction bumps the
catalog revision, so the version leaves the routing snapshot at once and the scaler stops and removes its
replicas. Only then are the stored objects (package, reference profile; with `purge` also report pages and
sampled traffic) and the image (the registry's manifest, by digest, and the copy on this Docker host)
removed, each best-effort: what could not be removed is logged and named in the answer's `failed`, since a
second DELETE is a 404 and cannot retry it.

Without `purge`, drift reports (rows and HTML pages) and sampled traffic are kept, and a model's row stays
in the catalog, so version numbers are never reused and kept reports and samples never mix with a new
version's. A kept report names its model and version itself (its `version_id` becomes NULL) and still
answers by id and in the version's listing. Deleting a model with `purge` also deletes the reports kept
from its versions deleted earlier; the answer's `drift_reports` counts the report rows deleted.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
from sqlalchemy import delete as sql_delete
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from control_plane.catalog import Catalog
from control_plane.deployment_configs import DEFAULT
from control_plane.errors import Conflict, NotFound
from control_plane.registry import Registry, RegistryError, split_image
from control_plane.tables import (
    ApplicationVariant,
    DeploymentConfig,
    DriftReport,
    Model,
    ModelVersion,
    MonitoringSchedule,
    ReportStatus,
    VersionStatus,
)
from control_plane.timestamps import utcnow
from servicekit.object_keys import package_key, profile_key, reference_values_key, samples_prefix
from servicekit.object_store import ObjectNotFound, ObjectStore, ObjectStoreError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stored:
    """What a deleted version left outside the catalog, read in the deleting transaction."""

    model: str
    version: int
    image: str | None
    report_pages: list[str]


@dataclass
class Removed:
    """What a deletion removed, as the API answers it."""

    versions: list[str] = field(default_factory=list)
    objects: int = 0
    images: list[str] = field(default_factory=list)
    drift_reports: int = 0
    samples: int = 0
    failed: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "removed": {
                "versions": self.versions,
                "objects": self.objects,
                "images": self.images,
                "drift_reports": self.drift_reports,
                "samples": self.samples,
            },
            "failed": self.failed,
        }


@dataclass(frozen=True)
class Cleanup:
    """Where a deleted version's objects and images live."""

    store: ObjectStore
    registry: Registry | None
    """None with the process runtime: it builds no images."""
    docker_host: bool = False
    """Also remove the image from this host's Docker engine (where the builder built it)."""


async def delete_version(
    catalog: Catalog, cleanup: Cleanup, model: str, number: int, *, purge: bool
) -> Removed:
    """Delete `model:number` unless an application uses it or it is still building."""
    async with catalog.write() as session:
        row = (
            await session.scalars(
                select(ModelVersion).where(ModelVersion.model_name == model, ModelVersion.version == number)
            )
        ).one_or_none()
        if row is None:
            if await session.get(Model, model) is None:
                raise NotFound(f"model {model!r} does not exist")
            raise NotFound(f"model {model!r} has no version {number}")
        removed = Removed()
        stored = await _delete_rows(session, [row], purge, removed, f"{model}:{number}")
    await _remove_outside(cleanup, stored, purge, removed)
    return removed


async def delete_model(catalog: Catalog, cleanup: Cleanup, model: str, *, purge: bool) -> Removed:
    """Delete every version of `model` (and, with `purge`, the model itself) unless any is in use."""
    async with catalog.write() as session:
        if await session.get(Model, model) is None:
            raise NotFound(f"model {model!r} does not exist")
        rows = list(
            (
                await session.scalars(
                    select(ModelVersion)
                    .where(ModelVersion.model_name == model)
                    .order_by(ModelVersion.version)
                )
            ).all()
        )
        if not rows and not purge:
            raise NotFound(f"model {model!r} has no versions")
        removed = Removed()
        stored = await _delete_rows(session, rows, purge, removed, f"model {model!r}")
        if purge:
            stored += await _purge_kept_reports(session, model, removed)
            await session.execute(sql_delete(Model).where(Model.name == model))
    await _remove_outside(cleanup, stored, purge, removed)
    return removed


async def delete_config(catalog: Catalog, name: str) -> None:
    """Delete deployment config `name` unless it is `default` or an application's variant uses it."""
    if name == DEFAULT:
        raise Conflict(
            f"deployment config {DEFAULT!r} cannot be deleted: variants use it when they name none"
        )
    async with catalog.write() as session:
        if await session.get(DeploymentConfig, name) is None:
            raise NotFound(f"deployment config {name!r} does not exist")
        variants = (
            await session.scalars(
                select(ApplicationVariant).where(ApplicationVariant.deployment_config == name)
            )
        ).all()
        if variants:
            raise Conflict(
                f"deployment config {name!r} is in use by {_places(variants)}; move them off it first"
            )
        await session.execute(sql_delete(DeploymentConfig).where(DeploymentConfig.name == name))
    logger.info("deleted deployment config %s", name)


async def _delete_rows(
    session: AsyncSession, rows: list[ModelVersion], purge: bool, removed: Removed, what: str
) -> list[Stored]:
    ids = [row.id for row in rows]
    if not ids:
        return []  # delete_model's purge of a model without versions: see _purge_kept_reports
    variants = (
        await session.scalars(select(ApplicationVariant).where(ApplicationVariant.version_id.in_(ids)))
    ).all()
    if variants:
        raise Conflict(f"{what} is in use by {_places(variants)}; move them to another version first")
    unfinished = [row.key for row in rows if row.status in (VersionStatus.PENDING, VersionStatus.BUILDING)]
    if unfinished:
        raise Conflict(f"{', '.join(unfinished)} is still building; delete it once its build has ended")
    pages: dict[int, list[str]] = {id_: [] for id_ in ids}
    await session.execute(sql_delete(MonitoringSchedule).where(MonitoringSchedule.version_id.in_(ids)))
    if purge:
        reports = (
            await session.execute(
                select(DriftReport.version_id, DriftReport.html_key).where(DriftReport.version_id.in_(ids))
            )
        ).all()
        for version_id, html_key in reports:
            if html_key and version_id is not None:
                pages[version_id].append(html_key)
        removed.drift_reports += len(reports)
        await session.execute(sql_delete(DriftReport).where(DriftReport.version_id.in_(ids)))
    else:
        await session.execute(
            update(DriftReport)
            .where(
                DriftReport.version_id.in_(ids),
                DriftReport.status.in_([ReportStatus.PENDING, ReportStatus.RUNNING]),
            )
            .values(
                status=ReportStatus.FAILED,
                error="its model version was deleted before the report was computed",
                finished_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
        # The foreign key sets version_id to NULL too (ON DELETE SET NULL); said here, not relied upon.
        await session.execute(
            update(DriftReport)
            .where(DriftReport.version_id.in_(ids))
            .values(version_id=None)
            .execution_options(synchronize_session=False)
        )
    await session.execute(sql_delete(ModelVersion).where(ModelVersion.id.in_(ids)))
    removed.versions = [row.key for row in rows]
    return [Stored(row.model_name, row.version, row.image, pages[row.id]) for row in rows]


async def _purge_kept_reports(session: AsyncSession, model: str, removed: Removed) -> list[Stored]:
    """Delete the reports kept from `model`'s versions deleted earlier without purge; their versions'
    leftovers (report pages, sampled traffic) to remove, as for a version deleted now."""
    kept = (
        await session.execute(
            select(DriftReport.version, DriftReport.html_key).where(
                DriftReport.model_name == model, DriftReport.version_id.is_(None)
            )
        )
    ).all()
    pages: dict[int, list[str]] = {}
    for number, html_key in kept:
        pages.setdefault(number, []).extend([html_key] if html_key else [])
    removed.drift_reports += len(kept)
    await session.execute(
        sql_delete(DriftReport).where(DriftReport.model_name == model, DriftReport.version_id.is_(None))
    )
    return [Stored(model, number, None, keys) for number, keys in sorted(pages.items())]


def _places(variants: Any) -> str:
    """`application 'a' (stage 0, variant 1: m:2 under 'default'), ...`"""
    places = sorted(
        f"application {v.application_name!r} (stage {v.stage}, variant {v.position}: {v.version.key} "
        f"under {v.deployment_config!r})"
        for v in variants
    )
    return ", ".join(places)


async def _remove_outside(cleanup: Cleanup, stored: list[Stored], purge: bool, removed: Removed) -> None:
    for version in stored:
        keys = [
            package_key(version.model, version.version),
            profile_key(version.model, version.version),
            reference_values_key(version.model, version.version),
        ]
        if purge:
            keys += version.report_pages
        for key in keys:
            if await _delete_object(cleanup.store, key, removed):
                removed.objects += 1
        if purge:
            try:
                samples = await cleanup.store.keys(samples_prefix(version.model, version.version))
            except ObjectStoreError as exc:
                _fail(removed, f"cannot list the sampled traffic of {version.model}:{version.version}: {exc}")
                samples = []
            for key in samples:
                if await _delete_object(cleanup.store, key, removed):
                    removed.samples += 1
        if version.image:
            await _remove_image(cleanup, version.image, removed)


async def _delete_object(store: ObjectStore, key: str, removed: Removed) -> bool:
    """Delete `key` if it exists; True if it did (a store's delete is quiet about missing keys)."""
    try:
        if key not in await store.keys(key):
            return False
        await store.delete(key)
    except ObjectNotFound:
        return False
    except ObjectStoreError as exc:
        _fail(removed, f"cannot delete object {key}: {exc}")
        return False
    return True


async def _remove_image(cleanup: Cleanup, image: str, removed: Removed) -> None:
    gone = False
    if cleanup.registry is not None:
        try:
            gone = await cleanup.registry.delete_tag(*split_image(image))
        except RegistryError as exc:
            _fail(removed, str(exc))
    if cleanup.docker_host:
        try:
            gone = await asyncio.to_thread(_remove_local_image, image) or gone
        except docker.errors.DockerException as exc:
            _fail(removed, f"cannot remove image {image} from this Docker host: {exc}")
    if gone:
        removed.images.append(image)


def _remove_local_image(image: str) -> bool:
    """Remove `image` from this host; True if it had it. A container still using it (the scaler stops it
    moments after the catalog change) makes Docker refuse a plain removal: then the tag alone is removed,
    and its layers go with `docker image prune` once the container is gone."""
    client = docker.from_env()
    try:
        try:
            client.images.remove(image)
        except docker.errors.ImageNotFound:
            return False
        except docker.errors.APIError as exc:
            if exc.status_code != 409:
                raise
            client.images.remove(image, force=True)
    finally:
        client.close()
    return True


def _fail(removed: Removed, message: str) -> None:
    logger.warning("deletion left something behind: %s", message)
    removed.failed.append(message)

"""Registry garbage collection (`hydro gc`): delete the registry's images no catalog version references.

A version's image is `{registry}/{model}:{version}`; every tag in the registry that no version row names
is unreferenced (left by a deleted version, a version deleted before this existed, or a failed build that
pushed). Tags of models with a version still building are left alone: a build pushes its image before
the catalog records it. Deleting manifests frees no disk by itself: the registry's own garbage collector
removes the blobs no manifest references any more (`registry.GC_COMMAND`, `make registry-gc` here).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from control_plane.catalog import Catalog
from control_plane.errors import Conflict
from control_plane.registry import GC_COMMAND, Registry, RegistryError
from control_plane.tables import ModelVersion, VersionStatus

logger = logging.getLogger(__name__)


async def collect(catalog: Catalog, registry: Registry | None, *, dry_run: bool) -> dict[str, Any]:
    """Delete (or, with `dry_run`, list) the registry's unreferenced images; say how blobs are reclaimed."""
    if registry is None:
        raise Conflict(
            "this control plane runs the process runtime: it pushes no images, there is no registry"
        )
    async with catalog.sessions() as session:
        rows = (
            await session.execute(select(ModelVersion.image, ModelVersion.model_name, ModelVersion.status))
        ).all()
    referenced = {image for image, _, _ in rows if image}
    building = {
        model for _, model, status in rows if status in (VersionStatus.PENDING, VersionStatus.BUILDING)
    }
    try:
        tags = await registry.tags()
    except RegistryError as exc:
        raise Conflict(f"cannot list the registry: {exc}") from exc
    unreferenced = [
        tag
        for tag in tags
        if tag.image(registry.address) not in referenced and tag.repository not in building
    ]
    deleted: list[str] = []
    failed: list[str] = []
    if not dry_run:
        for tag in unreferenced:
            image = tag.image(registry.address)
            try:
                if await registry.delete_tag(tag.repository, tag.tag):
                    deleted.append(image)
            except RegistryError as exc:
                logger.warning("gc: %s", exc)
                failed.append(str(exc))
        logger.info("gc: deleted %d unreferenced images from %s", len(deleted), registry.address)
    return {
        "dry_run": dry_run,
        "registry": registry.address,
        "unreferenced": [tag.image(registry.address) for tag in unreferenced],
        "deleted": deleted,
        "failed": failed,
        "kept": len(tags) - len(unreferenced),
        "reclaim_blobs": f"deleting manifests frees no disk; the registry's blobs are reclaimed by running "
        f"`{GC_COMMAND}` on the registry host (`make registry-gc` here)",
    }

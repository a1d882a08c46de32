"""Model versions: receiving an upload, numbering and storing it, and reading versions back.

An upload is received into a temporary file, unpacked and validated before anything is recorded.
Then one transaction draws the next number from the model's row (the UPDATE holds its row lock until
commit, so concurrent uploads get 1, 2, 3 ... without gaps), stores the package with its `hydro.json`
under that number, and inserts the version row. If anything fails after the object was stored, the
object is deleted again and the transaction rolls back: a failed upload leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from control_plane import package
from control_plane.catalog import Catalog
from control_plane.db import insert_ignore
from control_plane.errors import Conflict, InvalidRequest, NotFound, PackageError, PackageTooLarge
from control_plane.names import check_name
from control_plane.tables import Model, ModelVersion, VersionStatus
from control_plane.timestamps import iso, utcnow
from control_plane.validation import parse
from servicekit.object_keys import package_key
from servicekit.object_store import ObjectStore
from wire.signature import Signature, SignatureError

logger = logging.getLogger(__name__)

MAX_NUMBER = 2**31 - 1
"""Version numbers are 32-bit integers in the catalog; a larger one names no version and is refused."""
_BUFFER = 1024 * 1024
_ATTEMPTS = 3


@dataclass(frozen=True)
class VersionRef:
    """Just enough to find a version again (handed to the builder)."""

    id: int
    model: str
    version: int

    @property
    def key(self) -> str:
        return f"{self.model}:{self.version}"


async def upload(
    catalog: Catalog,
    store: ObjectStore,
    model: str,
    body: AsyncIterator[bytes],
    *,
    max_bytes: int,
    limits: package.Limits,
) -> ModelVersion:
    """Validate the tar.gz streamed in `body` as a package of `model` and record it as its next version."""
    check_name(model, "model name")
    workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="hydro-upload-"))
    try:
        archive = workdir / "upload.tar.gz"
        await receive(body, archive, max_bytes)
        contents = await asyncio.to_thread(package.inspect, archive, workdir, model, limits)
        return await _record(catalog, store, contents, workdir)
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)


async def register_external(catalog: Catalog, store: ObjectStore, model: str, body: Any) -> ModelVersion:
    """Record an external version (monitored, not served) from a JSON manifest: `{"external": true,
    "signature": {...}, "metadata"?: {...}}`. Its package holds only its hydro.json; a version with
    training data is uploaded as a tar.gz whose hydro.yaml says `external: true` (see `upload`)."""
    check_name(model, "model name")
    manifest = external_manifest_of(model, body)
    workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="hydro-external-"))
    try:
        root = workdir / "model"
        await asyncio.to_thread(root.mkdir)
        return await _record(catalog, store, package.Package(root=root, manifest=manifest), workdir)
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)


class ExternalSpec(BaseModel):
    """The JSON body that registers an external version (monitored only): its signature, no code."""

    model_config = ConfigDict(extra="forbid")

    external: Literal[True] = Field(description="Must be true: Hydro monitors this version, never serves it")
    signature: dict[str, Any] = Field(description="inputs and outputs, as in hydro.yaml")
    metadata: dict[str, Any] = Field(default_factory=dict)


def external_manifest_of(model: str, body: Any) -> dict[str, Any]:
    """The hydro.json fields of the external version `body` (a parsed JSON object) declares."""
    if isinstance(body, dict) and body.get("training_data") is not None:
        raise InvalidRequest(
            "training_data cannot be sent in a JSON body: upload a tar.gz holding a hydro.yaml with "
            "external: true, training_data: <path> and that file"
        )
    spec = parse(ExternalSpec, body, "external version")
    try:
        signature = Signature.from_dict(spec.signature)
    except SignatureError as exc:
        raise InvalidRequest(f"external version: {exc}") from None
    return package.external_manifest(model, signature, None, spec.metadata)


async def receive(body: AsyncIterator[bytes], dest: Path, max_bytes: int) -> None:
    """Write the request body to `dest`, refusing it as soon as it grows past `max_bytes`."""
    received = 0
    buffer = bytearray()
    handle = await asyncio.to_thread(open, dest, "wb")
    try:
        async for chunk in body:
            received += len(chunk)
            if received > max_bytes:
                raise PackageTooLarge(f"the package is larger than the limit of {max_bytes} bytes")
            buffer += chunk
            if len(buffer) >= _BUFFER:
                await asyncio.to_thread(handle.write, bytes(buffer))
                buffer.clear()
        await asyncio.to_thread(handle.write, bytes(buffer))
    finally:
        await asyncio.to_thread(handle.close)
    if received == 0:
        raise PackageError("the request body is empty: send the model folder as a tar.gz")


async def _record(
    catalog: Catalog, store: ObjectStore, contents: package.Package, workdir: Path
) -> ModelVersion:
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            row = await _record_once(catalog, store, contents, workdir)
        except IntegrityError:
            # Only a race the row lock does not cover (SQLite without it) ends here; the next try draws again.
            logger.warning(
                "version number clash for model %r (attempt %d)", contents.name, attempt, exc_info=True
            )
            continue
        if is_external(row.manifest):
            # Released at once: a new catalog revision lists it for Sonar, which then takes its samples.
            async with catalog.write():
                pass
        return row
    raise Conflict(f"could not draw a version number for model {contents.name!r}; retry the upload")


async def _record_once(
    catalog: Catalog, store: ObjectStore, contents: package.Package, workdir: Path
) -> ModelVersion:
    name = contents.name
    stored_key: str | None = None
    try:
        async with catalog.sessions() as session, session.begin():
            await session.execute(
                insert_ignore(session, Model, {"name": name, "latest_version": 0, "created_at": utcnow()})
            )
            await session.execute(
                update(Model).where(Model.name == name).values(latest_version=Model.latest_version + 1)
            )
            number = (
                await session.execute(select(Model.latest_version).where(Model.name == name))
            ).scalar_one()
            manifest = {"name": name, "version": number, **contents.manifest}
            packed = workdir / f"package-{number}.tar.gz"
            await asyncio.to_thread(package.pack, contents.root, manifest, packed)
            stored_key = package_key(name, number)
            url = await store.put_file(stored_key, packed)
            row = ModelVersion(
                model_name=name,
                version=number,
                # An external version has nothing to build: it is released as soon as it is stored.
                status=VersionStatus.RELEASED if is_external(manifest) else VersionStatus.PENDING,
                manifest=manifest,
                artifact_url=url,
                log="",
            )
            session.add(row)
            await session.flush()
        return row
    except BaseException:
        if stored_key is not None:
            try:
                await store.delete(stored_key)
            except Exception:
                logger.exception("cannot delete %r after a failed upload", stored_key)
        raise


async def find(catalog: Catalog, model: str, version: int) -> ModelVersion:
    async with catalog.sessions() as session:
        row = (
            await session.scalars(
                select(ModelVersion).where(ModelVersion.model_name == model, ModelVersion.version == version)
            )
        ).one_or_none()
        if row is not None:
            return row
        if await session.get(Model, model) is None:
            raise NotFound(f"model {model!r} does not exist")
        raise NotFound(f"model {model!r} has no version {version}")


async def list_versions(catalog: Catalog, model: str) -> list[ModelVersion]:
    async with catalog.sessions() as session:
        if await session.get(Model, model) is None:
            raise NotFound(f"model {model!r} does not exist")
        rows = await session.scalars(
            select(ModelVersion).where(ModelVersion.model_name == model).order_by(ModelVersion.version)
        )
        return list(rows.all())


async def list_models(catalog: Catalog) -> list[dict[str, Any]]:
    """Every model with its number of versions and its latest version's number and status."""
    async with catalog.sessions() as session:
        counts = dict(
            (
                await session.execute(
                    select(ModelVersion.model_name, func.count()).group_by(ModelVersion.model_name)
                )
            ).all()
        )
        latest = (
            select(ModelVersion.model_name, func.max(ModelVersion.version).label("version"))
            .group_by(ModelVersion.model_name)
            .subquery()
        )
        statuses = {
            model: (version, status)
            for model, version, status in (
                await session.execute(
                    select(ModelVersion.model_name, ModelVersion.version, ModelVersion.status).join(
                        latest,
                        (latest.c.model_name == ModelVersion.model_name)
                        & (latest.c.version == ModelVersion.version),
                    )
                )
            ).all()
        }
        models = (await session.scalars(select(Model).order_by(Model.name))).all()
    out = []
    for model in models:
        if model.name not in counts:  # its versions were deleted; the row keeps their numbers from reuse
            continue
        version, status = statuses.get(model.name, (None, None))
        out.append(
            {
                "name": model.name,
                "versions": counts.get(model.name, 0),
                "latest_version": version,
                "latest_status": status,
                "created_at": iso(model.created_at),
            }
        )
    return out


async def set_state(catalog: Catalog, ref: VersionRef, status: VersionStatus, **fields: Any) -> None:
    """Move a version to `status` (with image, digest, error, log ...), as a catalog change."""
    async with catalog.write() as session:
        await session.execute(
            update(ModelVersion)
            .where(ModelVersion.id == ref.id)
            .values(status=status, updated_at=utcnow(), **fields)
        )


def is_external(manifest: dict[str, Any]) -> bool:
    """True for a version Hydro monitors but does not serve (no build, no replicas, no route)."""
    return manifest.get("external") is True


def describe(row: ModelVersion) -> dict[str, Any]:
    """The API's view of a version."""
    manifest = row.manifest
    return {
        "model": row.model_name,
        "version": row.version,
        "key": row.key,
        "status": row.status,
        "external": is_external(manifest),
        "image": row.image,
        "digest": row.digest,
        "signature": manifest["signature"],
        "runtime": manifest.get("runtime"),
        "entrypoint": manifest.get("entrypoint"),
        "requirements": manifest.get("requirements"),
        "training_data": manifest.get("training_data"),
        "metadata": manifest.get("metadata", {}),
        "artifact_url": row.artifact_url,
        "error": row.error,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }

"""The catalog's revision and routing snapshot, and the in-process notification of changes.

Every write that the routing snapshot may reflect (applications, deployment configs, version states,
invoke keys) runs inside `Catalog.write()`, which bumps the revision row first, in the same transaction. On
PostgreSQL that row lock also serializes catalog writes, so validation (for instance "a version runs
under one deployment config") cannot race. After the commit, watchers of `Catalog.Watch` are woken.
The revision lives in the database, so it keeps increasing across restarts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from control_plane.db import Sessions
from control_plane.kafka_binding import kafka_of
from control_plane.routers import Routers
from control_plane.tables import (
    Application,
    CatalogState,
    DeploymentConfig,
    InvokeKey,
    Model,
    ModelVersion,
    VersionStatus,
)
from protos.hydro.v1 import catalog_pb2
from wire.signature import Signature

logger = logging.getLogger(__name__)


class Notifier:
    """The newest revision known to this process; watchers wait for it to pass the one they sent."""

    def __init__(self, revision: int = 0) -> None:
        self._revision = revision
        self._condition = asyncio.Condition()

    @property
    def revision(self) -> int:
        return self._revision

    async def changed(self, revision: int) -> None:
        async with self._condition:
            if revision > self._revision:
                self._revision = revision
                self._condition.notify_all()

    async def wait_past(self, revision: int) -> int:
        """Wait until the known revision is greater than `revision`; return it."""
        async with self._condition:
            await self._condition.wait_for(lambda: self._revision > revision)
            return self._revision


class Catalog:
    """Database sessions plus the change notifier: the one way to read and write the catalog. `routers`
    holds which revision each router connected to this process serves from."""

    def __init__(self, sessions: Sessions, notifier: Notifier) -> None:
        self.sessions = sessions
        self.notifier = notifier
        self.routers = Routers()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A transaction that bumps the revision first and wakes watchers after it commits; the new
        revision is in `session.info["revision"]`."""
        async with self.sessions() as session:
            async with session.begin():
                revision = await _bump(session)
                session.info["revision"] = revision
                yield session
            await self.notifier.changed(revision)

    async def revision(self) -> int:
        async with self.sessions() as session:
            return (
                await session.execute(select(CatalogState.revision).where(CatalogState.id == 1))
            ).scalar_one()

    async def poll(self, interval: float) -> None:
        """Notice changes committed by other processes sharing the database (runs until cancelled)."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.notifier.changed(await self.revision())
            except Exception:
                logger.warning("cannot read the catalog revision", exc_info=True)

    async def snapshot(self) -> catalog_pb2.Snapshot:
        """The routing state: applications, the released versions they use, all deployment configs; and the
        external versions (monitored only) and the models' sample retention, for Sonar."""
        async with self.sessions() as session:
            if session.get_bind().dialect.name == "postgresql":
                await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            revision = (
                await session.execute(select(CatalogState.revision).where(CatalogState.id == 1))
            ).scalar_one()
            applications = (await session.scalars(select(Application).order_by(Application.name))).all()
            configs = (await session.scalars(select(DeploymentConfig).order_by(DeploymentConfig.name))).all()
            # External versions are released at once and never routed: few, and read whole.
            monitored = [
                row
                for row in await session.scalars(
                    select(ModelVersion)
                    .where(ModelVersion.status == VersionStatus.RELEASED, ModelVersion.image.is_(None))
                    .order_by(ModelVersion.model_name, ModelVersion.version)
                )
                if row.manifest.get("external") is True
            ]
            retention = (
                await session.execute(
                    select(Model.name, Model.sample_retention_days).where(
                        Model.sample_retention_days.is_not(None)
                    )
                )
            ).all()
            key_rows = (
                await session.execute(
                    select(InvokeKey.application_name, InvokeKey.key_sha256).order_by(InvokeKey.key_sha256)
                )
            ).all()
        hashes: dict[str, list[str]] = {}
        for application_name, key_sha256 in key_rows:
            hashes.setdefault(application_name, []).append(key_sha256)

        snapshot = catalog_pb2.Snapshot(revision=revision)
        versions: dict[str, catalog_pb2.ModelVersion] = {}
        for application in applications:
            message = snapshot.applications.add(
                name=application.name,
                sampling_rate=application.sampling_rate,
                require_invoke_key=application.require_invoke_key,
                invoke_key_hashes=hashes.get(application.name, []),
            )
            kafka = kafka_of(application)
            if kafka is not None:
                message.kafka.CopyFrom(catalog_pb2.KafkaBinding(**kafka.to_json()))
            stages: dict[int, catalog_pb2.Stage] = {}
            for variant in application.variants:
                stage = stages.get(variant.stage)
                if stage is None:
                    stage = stages[variant.stage] = message.stages.add()
                version = variant.version
                stage.variants.add(
                    version_key=version.key,
                    weight=variant.weight,
                    deployment_config=variant.deployment_config,
                )
                if version.status == VersionStatus.RELEASED and version.key not in versions:
                    versions[version.key] = catalog_pb2.ModelVersion(
                        key=version.key,
                        model=version.model_name,
                        version=version.version,
                        image=version.image or "",
                        digest=version.digest or "",
                        artifact_url=version.artifact_url,
                        signature=Signature.from_dict(version.manifest["signature"]).to_proto(),
                        deployment_config=variant.deployment_config,
                        training_data=version.manifest.get("training_data") or "",
                    )
        snapshot.versions.extend(versions[key] for key in sorted(versions))
        for config in configs:
            snapshot.deployment_configs.add(name=config.name, **config.knobs)
        snapshot.monitored_versions.extend(
            catalog_pb2.ModelVersion(
                key=row.key,
                model=row.model_name,
                version=row.version,
                artifact_url=row.artifact_url,
                signature=Signature.from_dict(row.manifest["signature"]).to_proto(),
                training_data=row.manifest.get("training_data") or "",
            )
            for row in monitored
        )
        for name, days in retention:
            snapshot.sample_retention_days[name] = days
        return snapshot


async def _bump(session: AsyncSession) -> int:
    await session.execute(
        update(CatalogState).where(CatalogState.id == 1).values(revision=CatalogState.revision + 1)
    )
    return (await session.execute(select(CatalogState.revision).where(CatalogState.id == 1))).scalar_one()

"""Applications: pipelines of stages of weighted variants, declared idempotently by name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete as sql_delete
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from control_plane.catalog import Catalog
from control_plane.deployment_configs import DEFAULT
from control_plane.errors import Conflict, InvalidRequest, NotFound
from control_plane.kafka_binding import KafkaBinding, KafkaSpec, binding_of, describe_kafka, store_binding
from control_plane.kafka_lag import Lags
from control_plane.names import check_name
from control_plane.pipeline_check import StageVariant, pipeline_problem
from control_plane.routers import Routing
from control_plane.scaler_client import Replicas
from control_plane.tables import (
    Application,
    ApplicationVariant,
    DeploymentConfig,
    ModelVersion,
    VersionStatus,
)
from control_plane.timestamps import iso, utcnow
from control_plane.validation import parse
from control_plane.versions import MAX_NUMBER
from wire.signature import Signature, SignatureError


class VariantSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    model: str
    version: int = Field(ge=1, le=MAX_NUMBER)
    weight: int = Field(default=100, ge=0)
    deployment_config: str = DEFAULT


class StageSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    variants: list[VariantSpec] = Field(min_length=1)


class ApplicationSpec(BaseModel):
    """The body of `PUT /applications/{app}`; `{"variants": [...]}` is accepted for a single stage."""

    model_config = ConfigDict(extra="forbid", strict=True)

    stages: list[StageSpec] = Field(min_length=1)
    sampling_rate: float = Field(default=1.0, ge=0, le=1)
    require_invoke_key: bool = False
    kafka: KafkaSpec | None = None
    """The Kafka endpoint; absent or null: none (a PUT without it removes an existing one)."""


@dataclass(frozen=True)
class InvokeUrls:
    """Where the router serves applications (from the settings)."""

    router_url: str
    router_grpc_address: str

    def of(self, app: str) -> dict[str, str]:
        base = self.router_url.rstrip("/")
        return {
            "http": f"{base}/apps/{app}",
            "v2": f"{base}/v2/models/{app}/infer",
            "grpc": self.router_grpc_address,
        }


def parse_spec(name: str, body: Any) -> ApplicationSpec:
    if isinstance(body, dict) and "variants" in body and "stages" not in body:
        body = {
            "stages": [{"variants": body["variants"]}],
            **{k: v for k, v in body.items() if k != "variants"},
        }
    spec = parse(ApplicationSpec, body, f"application {name!r}")
    for s, stage in enumerate(spec.stages):
        if sum(variant.weight for variant in stage.variants) <= 0:
            raise InvalidRequest(
                f"application {name!r}: stages[{s}]: the variants' weights add up to 0; "
                "at least one must be > 0"
            )
    return spec


@dataclass(frozen=True)
class Declared:
    """An application as `put` stored it, and the catalog revision that write produced."""

    application: Application
    revision: int


async def put(catalog: Catalog, name: str, body: Any, *, kafka_brokers: bool) -> Declared:
    """Create or replace application `name`; every variant must name a released version and a config.
    A Kafka endpoint needs the platform's brokers (`kafka_brokers`: HYDRO_KAFKA_BOOTSTRAP_SERVERS is set)."""
    check_name(name, "application name")
    spec = parse_spec(name, body)
    kafka = None if spec.kafka is None else binding_of(name, spec.kafka)
    if kafka is not None and not kafka_brokers:
        raise Conflict(
            f"application {name!r}: kafka: this platform has no Kafka brokers; set "
            "HYDRO_KAFKA_BOOTSTRAP_SERVERS on the control plane and the routers to declare Kafka endpoints"
        )
    async with catalog.write() as session:
        rows: list[ApplicationVariant] = []
        configs_of: dict[int, tuple[str, ModelVersion]] = {}
        pipeline: list[list[StageVariant]] = []
        for s, stage in enumerate(spec.stages):
            pipeline.append([])
            for v, variant in enumerate(stage.variants):
                where = f"application {name!r}: stages[{s}].variants[{v}]"
                version = await _released_version(session, variant, where)
                pipeline[s].append(_stage_variant(version, name, f"stages[{s}].variants[{v}]"))
                if await session.get(DeploymentConfig, variant.deployment_config) is None:
                    raise InvalidRequest(
                        f"{where}: deployment config {variant.deployment_config!r} does not exist; create it "
                        f"with PUT /api/v1/deployment-configs/{variant.deployment_config}"
                    )
                previous = configs_of.setdefault(version.id, (variant.deployment_config, version))[0]
                if previous != variant.deployment_config:
                    raise Conflict(
                        f"{where}: model version {version.key!r} is used under deployment configs "
                        f"{previous!r} and {variant.deployment_config!r}; "
                        "a version runs under exactly one deployment config"
                    )
                rows.append(
                    ApplicationVariant(
                        stage=s,
                        position=v,
                        version_id=version.id,
                        weight=variant.weight,
                        deployment_config=variant.deployment_config,
                    )
                )
        problem = pipeline_problem(pipeline)
        if problem is not None:
            raise InvalidRequest(f"application {name!r}: {problem}")
        await _check_other_applications(session, name, configs_of)
        if kafka is not None:
            await _check_group_unused(session, name, kafka)

        application = await session.get(Application, name)
        if application is None:
            application = Application(name=name)
            session.add(application)
        application.sampling_rate = spec.sampling_rate
        application.require_invoke_key = spec.require_invoke_key
        store_binding(application, kafka)
        application.updated_at = utcnow()
        await session.flush()
        await session.execute(
            sql_delete(ApplicationVariant).where(ApplicationVariant.application_name == name)
        )
        for row in rows:
            row.application_name = name
        session.add_all(rows)
        await session.flush()
        await session.refresh(application)
        return Declared(application, session.info["revision"])


async def _released_version(session: AsyncSession, variant: VariantSpec, where: str) -> ModelVersion:
    key = f"{variant.model}:{variant.version}"
    version = (
        await session.scalars(
            select(ModelVersion).where(
                ModelVersion.model_name == variant.model, ModelVersion.version == variant.version
            )
        )
    ).one_or_none()
    if version is None:
        raise InvalidRequest(f"{where}: model version {key!r} does not exist")
    if version.status == VersionStatus.FAILED:
        raise InvalidRequest(f"{where}: model version {key!r} failed to build and cannot be deployed")
    if version.manifest.get("external") is True:
        raise InvalidRequest(
            f"{where}: model version {key!r} is external (monitored only): Hydro does not serve it, so no "
            "application can route to it"
        )
    if version.status != VersionStatus.RELEASED:
        raise Conflict(
            f"{where}: model version {key!r} is {version.status}, not released yet; retry once it is"
        )
    return version


def _stage_variant(version: ModelVersion, app: str, where: str) -> StageVariant:
    try:
        signature = Signature.from_dict(version.manifest["signature"])
    except (KeyError, SignatureError) as exc:  # only if a stored manifest was damaged: uploads are checked
        raise InvalidRequest(
            f"application {app!r}: {where}: model version {version.key!r} has no valid signature ({exc})"
        ) from exc
    return StageVariant(where=where, version_key=version.key, signature=signature)


async def _check_other_applications(
    session: AsyncSession, name: str, configs_of: dict[int, tuple[str, ModelVersion]]
) -> None:
    if not configs_of:
        return
    used = (
        await session.execute(
            select(
                ApplicationVariant.version_id,
                ApplicationVariant.deployment_config,
                ApplicationVariant.application_name,
            )
            .where(ApplicationVariant.version_id.in_(configs_of), ApplicationVariant.application_name != name)
            .order_by(ApplicationVariant.application_name)
        )
    ).all()
    for version_id, config, other in used:
        wanted, version = configs_of[version_id]
        if config != wanted:
            raise Conflict(
                f"application {name!r}: model version {version.key!r} already runs under deployment config "
                f"{config!r} in application {other!r}; it cannot also run under {wanted!r} "
                "(a version runs under exactly one deployment config)"
            )


async def _check_group_unused(session: AsyncSession, name: str, kafka: KafkaBinding) -> None:
    """Two applications in one consumer group would take each other's partitions (and messages)."""
    other = (
        await session.scalars(
            select(Application.name).where(
                Application.kafka_consumer_group == kafka.consumer_group, Application.name != name
            )
        )
    ).first()
    if other is not None:
        raise Conflict(
            f"application {name!r}: kafka.consumer_group: {kafka.consumer_group!r} is already the consumer "
            f"group of application {other!r}; each application needs its own group"
        )


async def get(catalog: Catalog, name: str) -> Application:
    async with catalog.sessions() as session:
        application = await session.get(Application, name)
        if application is None:
            raise NotFound(f"application {name!r} does not exist")
        return application


async def list_all(catalog: Catalog) -> list[Application]:
    async with catalog.sessions() as session:
        return list((await session.scalars(select(Application).order_by(Application.name))).all())


async def delete(catalog: Catalog, name: str) -> None:
    async with catalog.write() as session:
        application = await session.get(Application, name)
        if application is None:
            raise NotFound(f"application {name!r} does not exist")
        await session.delete(application)


def describe(
    application: Application,
    urls: InvokeUrls,
    replicas: Replicas | None,
    routing: Routing,
    lags: Lags,
) -> dict[str, Any]:
    """The API's view of an application; `replicas` is None when the scaler could not be asked; `routing`
    says whether the connected routers serve the catalog revision that includes it; `lags` holds its Kafka
    endpoint's consumer lag (or why it is unknown)."""
    stages: list[dict[str, Any]] = []
    for variant in application.variants:
        while len(stages) <= variant.stage:
            stages.append({"variants": []})
        key = variant.version.key
        stages[variant.stage]["variants"].append(
            {
                "model": variant.version.model_name,
                "version": variant.version.version,
                "weight": variant.weight,
                "deployment_config": variant.deployment_config,
                "replicas": None if replicas is None else replicas.get(key, {"ready": 0, "desired": 0}),
            }
        )
    return {
        "name": application.name,
        "stages": stages,
        "sampling_rate": application.sampling_rate,
        "require_invoke_key": application.require_invoke_key,
        "kafka": describe_kafka(application, lags),
        "invoke_urls": urls.of(application.name),
        **routing.to_json(),
        "created_at": iso(application.created_at),
        "updated_at": iso(application.updated_at),
    }

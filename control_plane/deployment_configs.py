"""Deployment configs: named, reusable scaling knobs (defaults follow Knative's KPA)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select

from control_plane.catalog import Catalog
from control_plane.errors import NotFound
from control_plane.names import check_name
from control_plane.tables import DeploymentConfig
from control_plane.timestamps import iso
from control_plane.validation import parse

DEFAULT = "default"
Int32 = Annotated[int, Field(ge=0, le=2**31 - 1)]


class Knobs(BaseModel):
    """Every key of a deployment config; any key left out takes its default."""

    model_config = ConfigDict(extra="forbid", strict=True)

    min_replicas: Int32 = 0
    max_replicas: Int32 = Field(default=0, description="0 = no limit")
    target_concurrency: float = Field(default=100.0, gt=0)
    container_concurrency: Int32 = Field(default=0, description="0 = unlimited")
    scale_to_zero_grace_s: float = Field(default=30.0, ge=0)
    stable_window_s: float = Field(default=60.0, gt=0)
    panic_window_pct: float = Field(default=10.0, gt=0, le=100)
    panic_threshold_pct: float = Field(default=200.0, gt=100)
    initial_scale: Int32 = 1
    cpu: float = Field(default=1.0, gt=0)
    memory_mb: Int32 = Field(default=512, ge=16)
    hold_timeout_s: float = Field(default=30.0, gt=0)
    max_queue: Int32 = 1000
    max_scale_up_rate: float = Field(
        default=1000.0, gt=1, description="per decision, at most this many times the ready replicas"
    )
    max_scale_down_rate: float = Field(
        default=2.0, gt=1, description="per decision, at least the ready replicas divided by this"
    )

    @model_validator(mode="after")
    def _bounds(self) -> Knobs:
        if self.max_replicas and self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) must not exceed max_replicas ({self.max_replicas})"
            )
        if self.max_replicas and self.initial_scale > self.max_replicas:
            raise ValueError(
                f"initial_scale ({self.initial_scale}) must not exceed max_replicas ({self.max_replicas})"
            )
        return self


def describe(config: DeploymentConfig) -> dict[str, Any]:
    knobs = Knobs.model_validate(config.knobs).model_dump()
    return {
        "name": config.name,
        **knobs,
        "created_at": iso(config.created_at),
        "updated_at": iso(config.updated_at),
    }


async def put(catalog: Catalog, name: str, body: Any) -> dict[str, Any]:
    """Create or replace config `name` from a JSON object of knobs (omitted keys take defaults)."""
    check_name(name, "deployment config name")
    knobs = parse(Knobs, body, f"deployment config {name!r}")
    async with catalog.write() as session:
        config = await session.get(DeploymentConfig, name)
        if config is None:
            config = DeploymentConfig(name=name, knobs=knobs.model_dump())
            session.add(config)
        else:
            config.knobs = knobs.model_dump()
        await session.flush()
        return describe(config)


async def get(catalog: Catalog, name: str) -> dict[str, Any]:
    async with catalog.sessions() as session:
        config = await session.get(DeploymentConfig, name)
        if config is None:
            raise NotFound(f"deployment config {name!r} does not exist")
        return describe(config)


async def list_all(catalog: Catalog) -> list[dict[str, Any]]:
    async with catalog.sessions() as session:
        configs = (await session.scalars(select(DeploymentConfig).order_by(DeploymentConfig.name))).all()
        return [describe(config) for config in configs]


async def ensure_default(catalog: Catalog) -> None:
    """Recreate the `default` config should it ever be missing (the first migration creates it)."""
    async with catalog.sessions() as session:
        if await session.get(DeploymentConfig, DEFAULT) is not None:
            return
    async with catalog.write() as session:
        if await session.get(DeploymentConfig, DEFAULT) is None:
            session.add(DeploymentConfig(name=DEFAULT, knobs=Knobs().model_dump()))

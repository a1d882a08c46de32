"""Retention of a model's sampled traffic: how many days of it Sonar keeps.

A model's `sample_retention_days` is stored on its row; None means Sonar's own default (its
`sample_retention_days` setting). Sonar learns the values from the catalog snapshot
(`Snapshot.sample_retention_days`, only the models that set one), so a change is a catalog write and bumps
the revision. Sonar deletes the hourly sample partitions older than the limit (`sonar.retention`).
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from control_plane.catalog import Catalog
from control_plane.errors import NotFound
from control_plane.tables import Model
from control_plane.validation import parse

MAX_DAYS = 3650
"""Ten years: the longest retention a model can ask for."""


class RetentionSpec(BaseModel):
    """The body of `PUT /api/v1/models/{model}/retention`: days to keep, or null for Sonar's default."""

    model_config = ConfigDict(extra="forbid")

    sample_retention_days: float | None = Field(
        gt=0,
        le=MAX_DAYS,
        description="Days of the model's sampled traffic Sonar keeps (fractions allowed); null: Sonar's "
        "default (its HYDRO_SAMPLE_RETENTION_DAYS setting).",
    )

    @field_validator("sample_retention_days", mode="before")
    @classmethod
    def _a_number(cls, value: Any) -> Any:
        if isinstance(value, bool) or isinstance(value, str):
            raise ValueError("must be a number of days or null")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("must be a finite number of days")
        return value


def describe(row: Model) -> dict[str, Any]:
    return {"model": row.name, "sample_retention_days": row.sample_retention_days}


async def get(catalog: Catalog, model: str) -> dict[str, Any]:
    async with catalog.sessions() as session:
        row = await session.get(Model, model)
        if row is None:
            raise NotFound(f"model {model!r} does not exist")
        return describe(row)


async def put(catalog: Catalog, model: str, body: Any) -> dict[str, Any]:
    """Set (or with null, clear) the model's retention; Sonar sees it with the next catalog revision."""
    spec = parse(RetentionSpec, body, "retention")
    async with catalog.write() as session:
        row = await session.get(Model, model, with_for_update=True)
        if row is None:
            raise NotFound(f"model {model!r} does not exist")
        row.sample_retention_days = spec.sample_retention_days
        answer = describe(row)
    return answer

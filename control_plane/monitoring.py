"""Monitoring schedules: when Sonar computes a model version's drift reports, and over which windows.

A schedule is a cron expression, evaluated in UTC, and a window length: each fire time t stands for the
window [t - window_s, t). `next_fire_at` is the earliest fire time whose window does not exist yet. When a
Sonar worker asks for work and `next_fire_at` has passed, the windows of every fire time up to now are
created (the newest `max_catch_up` of them, so a long outage is caught up but bounded) and `next_fire_at`
moves past now. Turning a schedule on, or changing its cron, starts it afresh from now: time spent off is
not caught up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from croniter import CroniterBadDateError, croniter
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator, model_validator
from sqlalchemy import select

from control_plane.catalog import Catalog
from control_plane.durations import format_duration, parse_duration
from control_plane.errors import Conflict, NotFound
from control_plane.tables import ModelVersion, MonitoringSchedule
from control_plane.timestamps import aware, iso
from control_plane.validation import parse
from control_plane.versions import find

MAX_WINDOW_S = 366 * 86400
MAX_COUNTED_SKIPS = 1000
"""Skipped windows are counted one by one up to this many (croniter takes ~0.3 ms a step)."""
_ALIASES = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_JUST_AFTER = timedelta(microseconds=1)
_A_LEAP_YEAR_START = datetime(2028, 1, 1, tzinfo=UTC)


class Thresholds(BaseModel):
    """Per-method overrides of Sonar's drift thresholds; a key left out keeps Sonar's default."""

    model_config = ConfigDict(extra="forbid")

    ks_pvalue: float | None = Field(default=None, gt=0, lt=1)
    chi2_pvalue: float | None = Field(default=None, gt=0, lt=1)
    psi: float | None = Field(default=None, gt=0)
    wasserstein: float | None = Field(default=None, gt=0)
    jensenshannon: float | None = Field(default=None, gt=0, le=1)
    null_share: float | None = Field(default=None, gt=0, le=1)
    drift_share: float | None = Field(default=None, gt=0, le=1)
    correction: Literal["benjamini-hochberg", "bonferroni", "none"] | None = None
    """How the KS and chi-square p-values of one report are corrected together (Sonar's default:
    Benjamini-Hochberg, one false discovery rate per report)."""
    min_rows: int | None = Field(default=None, ge=1, le=1_000_000_000)
    """Fewest rows a window needs for a drift verdict; below it the report's verdict is
    `insufficient_data` (Sonar's default: its `drift_min_rows` setting, 30)."""

    @field_validator("min_rows", mode="before")
    @classmethod
    def _whole(cls, value: Any) -> Any:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError("min_rows must be a whole number of rows")
        return value

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


def check_cron(expression: str) -> str:
    """`expression` if it is a 5-field cron expression (or an alias such as @hourly); ValueError otherwise."""
    text = " ".join(expression.split())
    if text.lower() in _ALIASES:
        return text.lower()
    if len(text.split(" ")) != 5 or not croniter.is_valid(text):
        raise ValueError(
            f"{expression!r} is not a cron expression: use five fields 'minute hour day month weekday' "
            "(evaluated in UTC), e.g. '0 * * * *' for hourly, or @hourly / @daily"
        )
    try:  # valid fields can still name a date that never comes, such as February 31
        croniter(text, _A_LEAP_YEAR_START).get_next(datetime)
    except CroniterBadDateError:
        raise ValueError(f"{expression!r} never fires: its day and month name no date") from None
    return text


class ScheduleSpec(BaseModel):
    """The body of `PUT .../monitoring`; keys left out take their defaults (it replaces the schedule)."""

    model_config = ConfigDict(extra="forbid")

    cron: str
    window: str | None = None
    window_s: StrictInt | None = Field(default=None, gt=0, le=MAX_WINDOW_S)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    enabled: StrictBool = True
    max_catch_up: StrictInt = Field(default=24, ge=1, le=1000)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)

    @field_validator("window")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        if value is not None:
            seconds = parse_duration(value)
            if seconds > MAX_WINDOW_S:
                raise ValueError(f"{value!r} is longer than the longest window, 366 days")
        return value

    @model_validator(mode="after")
    def _one_window(self) -> ScheduleSpec:
        if self.window is None and self.window_s is None:
            raise ValueError("give the window length as 'window' (e.g. '1h') or 'window_s' (seconds)")
        if self.window is not None and self.window_s is not None:
            if parse_duration(self.window) != self.window_s:
                raise ValueError(f"window {self.window!r} and window_s {self.window_s} disagree; give one")
        return self

    @property
    def seconds(self) -> int:
        if self.window_s is not None:
            return self.window_s
        assert self.window is not None
        return parse_duration(self.window)


def next_fire(cron: str, after: datetime) -> datetime:
    """The first fire time of `cron` strictly after `after`."""
    fire: datetime = croniter(cron, aware(after)).get_next(datetime)
    return fire


@dataclass(frozen=True)
class Due:
    """What a schedule owes at `now`: windows (oldest first), whether older ones were left out, what next."""

    windows: list[tuple[datetime, datetime]]
    skipped_older: int
    """How many older windows were left out (counted up to MAX_COUNTED_SKIPS)."""
    next_fire_at: datetime


def due_windows(cron: str, window_s: int, next_fire_at: datetime, now: datetime, max_catch_up: int) -> Due:
    """The windows of the fire times in [next_fire_at, now], at most the newest `max_catch_up` of them."""
    window = timedelta(seconds=window_s)
    first = aware(next_fire_at)
    fires: list[datetime] = []
    skipped = 0
    earlier = croniter(cron, aware(now) + _JUST_AFTER)
    while skipped < MAX_COUNTED_SKIPS:
        fire: datetime = earlier.get_prev(datetime)
        if fire < first:
            break
        if len(fires) < max_catch_up:
            fires.append(fire)
        else:
            skipped += 1
    fires.reverse()
    return Due(
        windows=[(fire - window, fire) for fire in fires],
        skipped_older=skipped,
        next_fire_at=next_fire(cron, now),
    )


def describe(schedule: MonitoringSchedule, version: ModelVersion) -> dict[str, Any]:
    return {
        "model": version.model_name,
        "version": version.version,
        "cron": schedule.cron,
        "window": format_duration(schedule.window_s),
        "window_s": schedule.window_s,
        "thresholds": schedule.thresholds,
        "enabled": schedule.enabled,
        "max_catch_up": schedule.max_catch_up,
        "next_run_at": iso(schedule.next_fire_at) if schedule.enabled else None,
        "created_at": iso(schedule.created_at),
        "updated_at": iso(schedule.updated_at),
    }


def require_training_data(version: ModelVersion) -> None:
    """Drift compares traffic with the training data: a version without it cannot have reports."""
    if not version.manifest.get("training_data"):
        raise Conflict(
            f"{version.model_name}:{version.version} has no training_data in its hydro.yaml; "
            "drift reports compare its traffic against that data"
        )


async def put(catalog: Catalog, model: str, number: int, body: Any, now: datetime) -> dict[str, Any]:
    """Create or replace the schedule of `model:number` (omitted keys take their defaults)."""
    version = await find(catalog, model, number)
    spec = parse(ScheduleSpec, body, f"monitoring of {model}:{number}")
    require_training_data(version)
    async with catalog.sessions() as session, session.begin():
        schedule = await session.get(MonitoringSchedule, version.id, with_for_update=True)
        created = schedule is None
        if schedule is None:
            schedule = MonitoringSchedule(version_id=version.id, created_at=now, enabled=False, cron="")
            session.add(schedule)
        restart = created or (spec.enabled and (not schedule.enabled or schedule.cron != spec.cron))
        schedule.cron = spec.cron
        schedule.window_s = spec.seconds
        schedule.thresholds = spec.thresholds.to_json()
        schedule.enabled = spec.enabled
        schedule.max_catch_up = spec.max_catch_up
        if restart:
            schedule.next_fire_at = next_fire(spec.cron, now)
        schedule.updated_at = now
        await session.flush()
        return describe(schedule, version)


async def get(catalog: Catalog, model: str, number: int) -> dict[str, Any]:
    version = await find(catalog, model, number)
    async with catalog.sessions() as session:
        schedule = await session.get(MonitoringSchedule, version.id)
    if schedule is None:
        raise NotFound(
            f"{model}:{number} has no monitoring schedule; "
            f"set one with PUT /api/v1/models/{model}/versions/{number}/monitoring"
        )
    return describe(schedule, version)


async def delete(catalog: Catalog, model: str, number: int) -> None:
    """Remove the schedule of `model:number` (its reports stay); NotFound when it has none."""
    version = await find(catalog, model, number)
    async with catalog.sessions() as session, session.begin():
        schedule = await session.get(MonitoringSchedule, version.id, with_for_update=True)
        if schedule is None:
            raise NotFound(f"{model}:{number} has no monitoring schedule")
        await session.delete(schedule)


async def thresholds_of(catalog: Catalog, version_id: int) -> dict[str, Any]:
    """The schedule's thresholds of a version, or none when it has no schedule."""
    async with catalog.sessions() as session:
        thresholds = await session.scalar(
            select(MonitoringSchedule.thresholds).where(MonitoringSchedule.version_id == version_id)
        )
    return dict(thresholds or {})

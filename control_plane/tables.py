"""The catalog's tables, as typed SQLAlchemy 2 ORM classes. The schema itself is created by Alembic
(`migrations/`); a test checks that the two agree."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from control_plane.timestamps import utcnow

NAME_LENGTH = 63
KAFKA_NAME_LENGTH = 249
"""Kafka's longest topic name (`control_plane.kafka_binding`)."""


class VersionStatus(StrEnum):
    """A version's build state: pending -> building -> released | failed."""

    PENDING = "pending"
    BUILDING = "building"
    RELEASED = "released"
    FAILED = "failed"


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON}


class Model(Base):
    """A model: a name and the counter its version numbers are drawn from."""

    __tablename__ = "models"

    name: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    latest_version: Mapped[int] = mapped_column(Integer, default=0)
    sample_retention_days: Mapped[float | None] = mapped_column(Float, default=None)
    """Days of its sampled traffic Sonar keeps; None: Sonar's own default (`control_plane.retention`)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelVersion(Base):
    """One uploaded package of a model, and the state of its build."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_name", "version", name="uq_model_versions_model_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(ForeignKey("models.name", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)
    artifact_url: Mapped[str] = mapped_column(Text)
    image: Mapped[str | None] = mapped_column(Text, default=None)
    digest: Mapped[str | None] = mapped_column(String(128), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    log: Mapped[str] = mapped_column(Text, default="")
    build_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """How many times its build was started (claimed); see `control_plane.build_claims`."""
    build_lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    """While building: until when the control plane building it holds it (renewed while it runs)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    @property
    def key(self) -> str:
        return f"{self.model_name}:{self.version}"


class DeploymentConfig(Base):
    """Named scaling knobs; `knobs` holds every key of `deployment_configs.Knobs`."""

    __tablename__ = "deployment_configs"

    name: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    knobs: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Application(Base):
    """A pipeline of stages of weighted variants, invoked by name through the router."""

    __tablename__ = "applications"

    name: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    sampling_rate: Mapped[float] = mapped_column(Float, default=1.0)
    require_invoke_key: Mapped[bool] = mapped_column(Boolean, default=False)
    kafka_source_topic: Mapped[str | None] = mapped_column(String(KAFKA_NAME_LENGTH), default=None)
    """The Kafka endpoint (`control_plane.kafka_binding`): all four set, or all four None (no endpoint)."""
    kafka_destination_topic: Mapped[str | None] = mapped_column(String(KAFKA_NAME_LENGTH), default=None)
    kafka_error_topic: Mapped[str | None] = mapped_column(String(KAFKA_NAME_LENGTH), default=None)
    kafka_consumer_group: Mapped[str | None] = mapped_column(String(KAFKA_NAME_LENGTH), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    variants: Mapped[list[ApplicationVariant]] = relationship(
        back_populates="application",
        cascade="all, delete-orphan",
        order_by="(ApplicationVariant.stage, ApplicationVariant.position)",
        lazy="selectin",
    )


class ApplicationVariant(Base):
    """One variant of one stage of an application: a model version under a deployment config."""

    __tablename__ = "application_variants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_name: Mapped[str] = mapped_column(
        ForeignKey("applications.name", ondelete="CASCADE"), index=True
    )
    stage: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="RESTRICT"), index=True)
    weight: Mapped[int] = mapped_column(Integer)
    deployment_config: Mapped[str] = mapped_column(ForeignKey("deployment_configs.name", ondelete="RESTRICT"))

    application: Mapped[Application] = relationship(back_populates="variants")
    version: Mapped[ModelVersion] = relationship(lazy="joined")


class CatalogState(Base):
    """A single row: the catalog revision, bumped by every change the routing snapshot may reflect."""

    __tablename__ = "catalog_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger, default=0)


class Role(StrEnum):
    """What an API token may do: each role passes every route of the roles below it."""

    VIEWER = "viewer"
    DEPLOYER = "deployer"
    ADMIN = "admin"


class ApiToken(Base):
    """A bearer token of the REST API with its role, stored only as its SHA-256 hex digest."""

    __tablename__ = "api_tokens"

    name: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16), default=Role.ADMIN)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEvent(Base):
    """One write call to the REST API (or a refused attempt): who, what, when and how it ended."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    token: Mapped[str | None] = mapped_column(String(NAME_LENGTH), default=None)
    """The name of the token presented; None when no valid token was presented."""
    role: Mapped[str | None] = mapped_column(String(16), default=None)
    method: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(Text)
    status: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class UiSession(Base):
    """A web UI login (`control_plane.ui.sessions`): kept server-side so logout and expiry are real. The
    session id lives only in the browser's cookie; the table keeps its SHA-256 digest."""

    __tablename__ = "ui_sessions"

    id_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    token: Mapped[str] = mapped_column(String(NAME_LENGTH))
    """The name of the API token that logged in; the session ends when that token is revoked."""
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class InvokeKey(Base):
    """A key that opens one application at the router, stored only as its SHA-256 hex digest."""

    __tablename__ = "invoke_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    application_name: Mapped[str] = mapped_column(
        ForeignKey("applications.name", ondelete="CASCADE"), index=True
    )
    key_sha256: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))
    """The key's first characters, not secret, to tell keys apart in listings."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReportStatus(StrEnum):
    """A drift report's state: pending -> running -> done | failed (running again if its lease expires)."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ReportTrigger(StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"


class MonitoringSchedule(Base):
    """When to compute drift reports of one model version: a cron expression (UTC) and a window length."""

    __tablename__ = "monitoring_schedules"

    version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    cron: Mapped[str] = mapped_column(String(120))
    window_s: Mapped[int] = mapped_column(Integer)
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean)
    max_catch_up: Mapped[int] = mapped_column(Integer, default=24)
    next_fire_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    """The earliest cron fire time whose window is not created yet; windows are created once it passes."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DriftReport(Base):
    """One drift report of a model version over the window [window_start, window_end), and its job state.

    A report outlives its version: it names its model and version itself, and `version_id` becomes NULL
    when the version is deleted (only a purge deletes reports). It goes with its model row."""

    __tablename__ = "drift_reports"
    __table_args__ = (
        # Each scheduled (version, window) exists once, however many Sonar workers claim at the same time.
        Index(
            "uq_drift_reports_scheduled_window",
            "version_id",
            "window_start",
            "window_end",
            "trigger",
            unique=True,
            postgresql_where=text("trigger = 'schedule'"),
            sqlite_where=text("trigger = 'schedule'"),
        ),
        Index("ix_drift_reports_status_created_at", "status", "created_at"),
        Index("ix_drift_reports_model_name_version_created_at", "model_name", "version", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_name: Mapped[str] = mapped_column(
        ForeignKey("models.name", ondelete="CASCADE", name="fk_drift_reports_model_name")
    )
    version: Mapped[int] = mapped_column(Integer)
    version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL", name="fk_drift_reports_version_id")
    )
    """The version's row while it exists; NULL once the version was deleted and its reports kept."""
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    trigger: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSON)
    claimed_by: Mapped[str | None] = mapped_column(String(200), default=None)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    features: Mapped[Any] = mapped_column(JSON, default=None, nullable=True)
    html_key: Mapped[str | None] = mapped_column(Text, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)

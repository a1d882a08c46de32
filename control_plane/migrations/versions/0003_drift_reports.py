"""Monitoring schedules and drift reports (Sonar's jobs and their results).

A partial unique index makes each scheduled (version, window) exist once, whichever Sonar worker or control
plane process creates it; manual runs of the same window may repeat.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_SCHEDULED = sa.text("trigger = 'schedule'")


def upgrade() -> None:
    op.create_table(
        "monitoring_schedules",
        sa.Column(
            "version_id",
            sa.Integer(),
            sa.ForeignKey("model_versions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("cron", sa.String(120), nullable=False),
        sa.Column("window_s", sa.Integer(), nullable=False),
        sa.Column("thresholds", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("max_catch_up", sa.Integer(), nullable=False),
        sa.Column("next_fire_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "drift_reports",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "version_id",
            sa.Integer(),
            sa.ForeignKey("model_versions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("thresholds", sa.JSON(), nullable=False),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("features", sa.JSON(), nullable=True),
        sa.Column("html_key", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "uq_drift_reports_scheduled_window",
        "drift_reports",
        ["version_id", "window_start", "window_end", "trigger"],
        unique=True,
        postgresql_where=_SCHEDULED,
        sqlite_where=_SCHEDULED,
    )
    op.create_index("ix_drift_reports_status_created_at", "drift_reports", ["status", "created_at"])
    op.create_index("ix_drift_reports_version_id_created_at", "drift_reports", ["version_id", "created_at"])


def downgrade() -> None:
    op.drop_table("drift_reports")
    op.drop_table("monitoring_schedules")

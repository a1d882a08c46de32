"""The catalog: models, versions, deployment configs, applications, the catalog revision, API tokens.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# The `default` deployment config as it was when this migration was written (Knative KPA defaults).
DEFAULT_KNOBS = {
    "min_replicas": 0,
    "max_replicas": 0,
    "target_concurrency": 100.0,
    "container_concurrency": 0,
    "scale_to_zero_grace_s": 30.0,
    "stable_window_s": 60.0,
    "panic_window_pct": 10.0,
    "panic_threshold_pct": 200.0,
    "initial_scale": 1,
    "cpu": 1.0,
    "memory_mb": 512,
    "hold_timeout_s": 30.0,
    "max_queue": 1000,
}


def _timestamps() -> list[sa.Column[sa.DateTime]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "model_name", sa.String(63), sa.ForeignKey("models.name", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("artifact_url", sa.Text(), nullable=False),
        sa.Column("image", sa.Text(), nullable=True),
        sa.Column("digest", sa.String(128), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("log", sa.Text(), nullable=False),
        *_timestamps(),
        sa.UniqueConstraint("model_name", "version", name="uq_model_versions_model_version"),
    )
    op.create_index("ix_model_versions_model_name", "model_versions", ["model_name"])
    deployment_configs = op.create_table(
        "deployment_configs",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("knobs", sa.JSON(), nullable=False),
        *_timestamps(),
    )
    op.create_table(
        "applications",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("sampling_rate", sa.Float(), nullable=False),
        sa.Column("require_invoke_key", sa.Boolean(), nullable=False),
        *_timestamps(),
    )
    op.create_table(
        "application_variants",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "application_name",
            sa.String(63),
            sa.ForeignKey("applications.name", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column(
            "version_id",
            sa.Integer(),
            sa.ForeignKey("model_versions.id", ondelete="RESTRICT"),
            nullable=False,
        ),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column(
            "deployment_config",
            sa.String(63),
            sa.ForeignKey("deployment_configs.name", ondelete="RESTRICT"),
            nullable=False,
        ),
    )
    op.create_index("ix_application_variants_application_name", "application_variants", ["application_name"])
    op.create_index("ix_application_variants_version_id", "application_variants", ["version_id"])
    catalog_state = op.create_table(
        "catalog_state",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("revision", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )

    now = datetime.now(UTC)
    op.execute(catalog_state.insert().values(id=1, revision=1))
    op.execute(
        deployment_configs.insert().values(
            name="default", knobs=DEFAULT_KNOBS, created_at=now, updated_at=now
        )
    )


def downgrade() -> None:
    for table in (
        "api_tokens",
        "catalog_state",
        "application_variants",
        "applications",
        "deployment_configs",
        "model_versions",
        "models",
    ):
        op.drop_table(table)

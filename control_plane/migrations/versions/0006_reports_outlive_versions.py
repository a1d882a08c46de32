"""Drift reports outlive their version: they name their model and version themselves, and the reference
to the version row becomes NULL when the version is deleted (only `?purge=true` deletes reports).

A report still goes with its model row (`models.name`, ON DELETE CASCADE), so a model deleted with purge
and created again never inherits the old model's reports.

The foreign key of 0003 was unnamed: PostgreSQL named it `drift_reports_version_id_fkey`; on SQLite the
batch mode copies the table, and a naming convention gives the reflected key a name to drop it by.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

_CONVENTION = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
_SQLITE_VERSION_FK = "fk_drift_reports_version_id_model_versions"
_POSTGRES_VERSION_FK = "drift_reports_version_id_fkey"
_VERSION_FK = "fk_drift_reports_version_id"
_MODEL_FK = "fk_drift_reports_model_name"
_OLD_INDEX = "ix_drift_reports_version_id_created_at"
_NEW_INDEX = "ix_drift_reports_model_name_version_created_at"


def _old_version_fk() -> str:
    return _SQLITE_VERSION_FK if op.get_bind().dialect.name == "sqlite" else _POSTGRES_VERSION_FK


def upgrade() -> None:
    with op.batch_alter_table("drift_reports") as table:
        table.add_column(sa.Column("model_name", sa.String(63), nullable=True))
        table.add_column(sa.Column("version", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE drift_reports SET "
        "model_name = (SELECT model_versions.model_name FROM model_versions "
        "WHERE model_versions.id = drift_reports.version_id), "
        "version = (SELECT model_versions.version FROM model_versions "
        "WHERE model_versions.id = drift_reports.version_id)"
    )
    op.drop_index(_OLD_INDEX, table_name="drift_reports")
    with op.batch_alter_table("drift_reports", naming_convention=_CONVENTION) as table:
        table.alter_column("model_name", existing_type=sa.String(63), nullable=False)
        table.alter_column("version", existing_type=sa.Integer(), nullable=False)
        table.alter_column("version_id", existing_type=sa.Integer(), nullable=True)
        table.drop_constraint(_old_version_fk(), type_="foreignkey")
        table.create_foreign_key(_VERSION_FK, "model_versions", ["version_id"], ["id"], ondelete="SET NULL")
        table.create_foreign_key(_MODEL_FK, "models", ["model_name"], ["name"], ondelete="CASCADE")
    op.create_index(_NEW_INDEX, "drift_reports", ["model_name", "version", "created_at"])


def downgrade() -> None:
    op.execute("DELETE FROM drift_reports WHERE version_id IS NULL")
    op.drop_index(_NEW_INDEX, table_name="drift_reports")
    with op.batch_alter_table("drift_reports") as table:
        table.drop_constraint(_MODEL_FK, type_="foreignkey")
        table.drop_constraint(_VERSION_FK, type_="foreignkey")
        table.create_foreign_key(
            _POSTGRES_VERSION_FK, "model_versions", ["version_id"], ["id"], ondelete="CASCADE"
        )
        table.alter_column("version_id", existing_type=sa.Integer(), nullable=False)
        table.drop_column("version")
        table.drop_column("model_name")
    op.create_index(_OLD_INDEX, "drift_reports", ["version_id", "created_at"])

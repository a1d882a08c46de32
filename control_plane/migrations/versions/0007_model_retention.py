"""Retention: the days of sampled traffic Sonar keeps of a model (NULL: Sonar's default).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("models") as table:
        table.add_column(sa.Column("sample_retention_days", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("models") as table:
        table.drop_column("sample_retention_days")

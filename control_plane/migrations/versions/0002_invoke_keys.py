"""Invoke keys: per-application keys the router checks, stored as SHA-256 digests (revoking deletes).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "invoke_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "application_name",
            sa.String(63),
            sa.ForeignKey("applications.name", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("key_sha256", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_invoke_keys_application_name", "invoke_keys", ["application_name"])


def downgrade() -> None:
    op.drop_table("invoke_keys")

"""Kafka endpoints: an application's source, destination and error topics and its consumer group (all
NULL: no Kafka endpoint).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

_COLUMNS = ("kafka_source_topic", "kafka_destination_topic", "kafka_error_topic", "kafka_consumer_group")


def upgrade() -> None:
    with op.batch_alter_table("applications") as table:
        for name in _COLUMNS:
            table.add_column(sa.Column(name, sa.String(249), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("applications") as table:
        for name in reversed(_COLUMNS):
            table.drop_column(name)

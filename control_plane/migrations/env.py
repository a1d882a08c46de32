"""Alembic environment: migrations run on the connection handed over in `config.attributes`.

`control_plane.db.migrate` opens an async connection (asyncpg or aiosqlite) and runs Alembic through
`run_sync`, so there is no alembic.ini and no second engine.
"""

from __future__ import annotations

from alembic import context

from control_plane.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through control_plane.db.migrate(), which hands over a connection")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

"""Alembic migrations of the catalog, run programmatically at startup (`control_plane.db.migrate`)."""

"""What the Sonar suites share: a real router for the ingest stories (S3 server: tests/conftest.py)."""

from __future__ import annotations

from tests.router.conftest import model_dirs, start_router  # noqa: F401
from tests.s3_server import S3Server  # noqa: F401  (the suites' modules take them from here)

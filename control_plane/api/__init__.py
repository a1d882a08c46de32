"""The REST API under /api/v1: thin Starlette endpoints over the catalog modules."""

from __future__ import annotations

from starlette.routing import BaseRoute

from control_plane.api import (
    applications,
    audit,
    deployment_configs,
    drift_jobs,
    drift_reports,
    gc,
    invoke_keys,
    models,
    monitoring,
    openapi,
    retention,
    system,
    tokens,
)


def routes() -> list[BaseRoute]:
    return [
        *system.routes(),
        *models.routes(),
        *applications.routes(),
        *invoke_keys.routes(),
        *deployment_configs.routes(),
        *monitoring.routes(),
        *retention.routes(),
        *drift_reports.routes(),
        *drift_jobs.routes(),
        *tokens.routes(),
        *audit.routes(),
        *gc.routes(),
        *openapi.routes(),
    ]

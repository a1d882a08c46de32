"""The REST API under /api/v1: thin Starlette endpoints over the catalog modules."""

from __future__ import annotations

from starlette.routing import BaseRoute

from control_plane.api import applications, deployment_configs, invoke_keys, models, system


def routes() -> list[BaseRoute]:
    return [
        *system.routes(),
        *models.routes(),
        *applications.routes(),
        *invoke_keys.routes(),
        *deployment_configs.routes(),
    ]

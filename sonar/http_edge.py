"""Sonar's HTTP edge: Prometheus `/metrics` and `/health` (`servicekit.ops_http`), served by uvicorn in
`sonar.server`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette

from servicekit.ops_http import create_ops_app
from sonar.metrics import CONTENT_TYPE, Metrics


def create_http_app(metrics: Metrics, health: Callable[[], dict[str, Any]]) -> Starlette:
    """The app answering `/metrics` from `metrics` and `/health` with `health()`."""
    return create_ops_app(metrics.exposition, CONTENT_TYPE, health)

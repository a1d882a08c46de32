"""The scaler's HTTP edge: `/metrics` (Prometheus) and `/health` (`servicekit.ops_http`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette

from scaler.metrics import CONTENT_TYPE, Metrics
from servicekit.ops_http import create_ops_app


def create_http_app(metrics: Metrics, health: Callable[[], dict[str, Any]]) -> Starlette:
    """The app serving `metrics` and the `health()` document."""
    return create_ops_app(metrics.render, CONTENT_TYPE, health)

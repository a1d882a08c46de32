"""Prometheus metrics of one control plane (own registry per app, so tests can build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """HTTP requests by route, builds by runtime and outcome, scheduled drift windows."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "hydro_control_plane_requests",
            "HTTP requests answered by the control plane API.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "hydro_control_plane_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["method", "route"],
            registry=self.registry,
        )
        self.builds = Counter(
            "hydro_control_plane_builds",
            "Finished builds of model versions.",
            ["runtime", "outcome"],
            registry=self.registry,
        )
        self.build_seconds = Histogram(
            "hydro_control_plane_build_duration_seconds",
            "Time from the start of a build to its outcome (image built and pushed, or failure).",
            ["runtime", "outcome"],
            buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
            registry=self.registry,
        )
        self.drift_windows = Counter(
            "hydro_control_plane_drift_windows",
            "Scheduled drift report windows: created, or skipped because more than max_catch_up were missed.",
            ["outcome"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

"""What several suites share about the real parts they run against.

`require_docker_parts` fails (never skips) naming what is missing; `make test` sets all of it up.
"""

from __future__ import annotations

import os
from typing import Any

import docker
import docker.errors
import httpx
import pytest

REGISTRY = os.environ.get("HYDRO_REGISTRY", "127.0.0.1:5000")
BASE_IMAGE = os.environ.get("HYDRO_RUNTIME_BASE_IMAGE", "hydro/runtime-base:py3.11")

# The deployment config knobs the control plane fills in (Knative KPA defaults), for test stand-ins
# that build catalog snapshots themselves.
DEPLOYMENT_CONFIG_DEFAULTS: dict[str, Any] = {
    "min_replicas": 0,
    "max_replicas": 0,
    "target_concurrency": 100.0,
    "container_concurrency": 0,
    "scale_to_zero_grace_s": 30.0,
    "stable_window_s": 60.0,
    "panic_window_pct": 10.0,
    "panic_threshold_pct": 200.0,
    "initial_scale": 1,
    "cpu": 1.0,
    "memory_mb": 512,
    "hold_timeout_s": 30.0,
    "max_queue": 1000,
    "max_scale_up_rate": 1000.0,
    "max_scale_down_rate": 2.0,
}


def require_docker_parts() -> docker.DockerClient:
    """The Docker engine, the registry and the runtime base image, or a failure naming what is missing."""
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:
        pytest.fail(f"Docker engine not reachable ({exc}); start it with `scripts/services.sh start`")
    try:
        httpx.get(f"http://{REGISTRY}/v2/", timeout=2).raise_for_status()
    except httpx.HTTPError as exc:
        pytest.fail(f"registry {REGISTRY} not answering ({exc}); start it with `scripts/services.sh start`")
    try:
        client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"runtime base image {BASE_IMAGE} missing; build it with `scripts/build_base_image.sh`")
    return client

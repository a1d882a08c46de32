"""What the benchmarks share: the whole platform on real parts, an example deployed, a few statistics.

`bench_platform()` starts the control plane, scaler and router as real processes (the same start-up
as the end-to-end tests) on a fresh PostgreSQL database, the Docker runtime and the registry, and
tears all of it down afterwards, database included.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import docker
import docker.errors
import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from scaler.runtimes.docker import PORT_NUMBER
from tests.e2e.platform import Platform, running_platform
from tests.e2e.replicas import published_address, replica_reach
from tests.e2e.stories import copy_example

POSTGRES_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
REGISTRY = os.environ.get("HYDRO_REGISTRY", "127.0.0.1:5000")
BASE_IMAGE = os.environ.get("HYDRO_RUNTIME_BASE_IMAGE", "hydro/runtime-base:py3.11")


def percentile(samples: list[float], q: float) -> float:
    return float(np.percentile(np.array(samples), q))


def containers(key: str, include_stopped: bool = True) -> list[str]:
    """Ids of the containers of one version (`{model}:{version}`), stopped ones too unless told otherwise."""
    client = docker.from_env()
    try:
        # The low-level list: the high-level one inspects each container, racing their removal.
        found = client.api.containers(all=include_stopped, filters={"label": f"hydro.version={key}"})
        return [c["Id"] for c in found]
    finally:
        client.close()


def host_port(container_id: str) -> str:
    """The 127.0.0.1 port a replica's gRPC port is published on (on its network holder if it has one)."""
    client = docker.from_env()
    try:
        address = published_address(client, container_id)
    finally:
        client.close()
    if address is None:
        raise RuntimeError(f"container {container_id[:12]} publishes no gRPC port")
    return address.rsplit(":", 1)[1]


def bridge_address(container_id: str) -> str:
    """`ip:9000` of a replica on the Docker bridge (its holder's, if it joined one): where the scaler
    announces it by default, so where the router calls it."""
    client = docker.from_env()
    try:
        reach = replica_reach(client, container_id)
    finally:
        client.close()
    if reach is None or not reach.bridge_ip:
        raise RuntimeError(f"container {container_id[:12]} has no bridge address")
    return reach.address("bridge", PORT_NUMBER)


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus endpoint, by (sample name, sorted labels)."""
    text = httpx.get(url, timeout=5).text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    return samples


def require_parts() -> None:
    """Exit naming what is missing when the Docker engine, the registry or the base image is not there."""
    try:
        client = docker.from_env()
        client.ping()
        client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        raise SystemExit(f"runtime base image {BASE_IMAGE} missing; `make base-image` builds it") from None
    except docker.errors.DockerException as exc:
        raise SystemExit(f"Docker engine not reachable ({exc}); `make services` starts it") from None
    try:
        httpx.get(f"http://{REGISTRY}/v2/", timeout=2).raise_for_status()
    except httpx.HTTPError as exc:
        raise SystemExit(f"registry {REGISTRY} not answering ({exc}); `make services` starts it") from None


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextmanager
def bench_platform(**extra: str) -> Iterator[tuple[Platform, Path]]:
    """The platform on PostgreSQL + Docker + registry, and its home folder (scratch space); `extra`:
    more `HYDRO_*` variables for its processes (the Kafka brokers, say)."""
    require_parts()
    database = f"hydro_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f"CREATE DATABASE {database}"))
    try:
        with tempfile.TemporaryDirectory() as home:
            overrides = {
                "HYDRO_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}",
                "HYDRO_RUNTIME": "docker",
                "HYDRO_REGISTRY": REGISTRY,
                "HYDRO_RUNTIME_BASE_IMAGE": BASE_IMAGE,
            }
            if os.environ.get("HYDRO_WHEELHOUSE"):
                overrides["HYDRO_WHEELHOUSE"] = os.environ["HYDRO_WHEELHOUSE"]
            overrides.update(extra)
            with contextmanager(running_platform)(Path(home), **overrides) as platform:
                yield platform, Path(home)
    finally:
        asyncio.run(_admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))


def deploy_example(platform: Platform, home: Path, example: str, config: str) -> str:
    """`hydro deploy` a copy of an example under the deployment config `config`; return its model name."""
    folder, model = copy_example(example, home)
    deployed = platform.hydro("deploy", str(folder), "--app", model, "--deployment-config", config)
    if deployed.returncode != 0:
        raise SystemExit(f"deploy failed: {deployed.stderr}\n{platform.logs()}")
    return model

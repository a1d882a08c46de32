"""What a running control plane holds, opened and closed in one place: database, catalog, object store,
token check, builder, scaler and Sonar clients and the clock. The HTTP app and the Catalog gRPC service
share one State."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from control_plane import deployment_configs, package
from control_plane.applications import InvokeUrls
from control_plane.auth import TokenCheck, load_tokens
from control_plane.builder import Builder
from control_plane.builds.base import BuildBackend
from control_plane.builds.docker import DockerBuild
from control_plane.builds.process import ProcessBuild
from control_plane.catalog import Catalog, Notifier
from control_plane.clock import Clock, system_clock
from control_plane.db import create_engine, migrate, sessionmaker
from control_plane.kafka_lag import LagReader
from control_plane.metrics import Metrics
from control_plane.registry import Registry
from control_plane.scaler_client import ScalerClient
from control_plane.settings import Settings
from control_plane.sonar_client import SonarClient
from servicekit.grpc_security import ServiceLink
from servicekit.kafka_client import client_options, kafka_enabled
from servicekit.object_store import ObjectStore, open_object_store
from servicekit.tls import load_tls

logger = logging.getLogger(__name__)


@dataclass
class State:
    settings: Settings
    engine: AsyncEngine
    catalog: Catalog
    store: ObjectStore
    tokens: TokenCheck
    builder: Builder
    scaler: ScalerClient
    sonar: SonarClient
    metrics: Metrics
    urls: InvokeUrls
    limits: package.Limits
    clock: Clock
    lag: LagReader
    """Reads the consumer lag of applications' Kafka endpoints (or says why it cannot)."""
    registry: Registry | None = None
    """The image registry (docker runtime only): deletion and `hydro gc` delete images through it."""


@contextlib.asynccontextmanager
async def open_state(settings: Settings, *, clock: Clock = system_clock) -> AsyncIterator[State]:
    """Migrate the database, start the builder (which resumes interrupted builds), and hold everything open
    until exit.

    `clock` is what schedules and leases take as now (tests hand in one they move)."""
    async with contextlib.AsyncExitStack() as stack:
        engine = create_engine(settings.database_url)
        stack.push_async_callback(engine.dispose)
        await migrate(engine)
        catalog = Catalog(sessionmaker(engine), Notifier())
        await deployment_configs.ensure_default(catalog)
        await catalog.notifier.changed(await catalog.revision())
        tokens = await load_tokens(settings, catalog.sessions)

        store = open_object_store(settings.object_store, s3_endpoint_url=settings.s3_endpoint_url)
        stack.push_async_callback(store.close)
        link = ServiceLink.from_settings(settings, load_tls(settings))
        scaler = ScalerClient(settings.scaler_address, settings.scaler_timeout_s, link)
        stack.push_async_callback(scaler.close)
        sonar = SonarClient(settings.sonar_address, settings.sonar_timeout_s, link)
        stack.push_async_callback(sonar.close)
        metrics = Metrics()
        limits = package.Limits(settings.max_unpacked_bytes, settings.max_package_members)
        backend = make_build_backend(settings, store, limits)
        builder = Builder(
            backend,
            catalog,
            metrics,
            concurrency=settings.build_concurrency,
            timeout_s=settings.build_timeout_s,
            max_attempts=settings.build_max_attempts,
            lease_s=settings.build_lease_s,
        )
        builder.start()  # versions an earlier run left queued or interrupted are built again
        stack.push_async_callback(builder.close)
        registry = Registry(settings.registry) if settings.runtime == "docker" else None
        if registry is not None:
            stack.push_async_callback(registry.close)
        poller = asyncio.create_task(catalog.poll(settings.catalog_poll_s), name="catalog revision poll")
        stack.push_async_callback(_stop, poller)

        yield State(
            settings=settings,
            engine=engine,
            catalog=catalog,
            store=store,
            tokens=tokens,
            builder=builder,
            scaler=scaler,
            sonar=sonar,
            metrics=metrics,
            urls=InvokeUrls(settings.router_url, settings.router_grpc_address),
            limits=limits,
            clock=clock,
            lag=LagReader(
                client_options(settings) if kafka_enabled(settings) else None, settings.kafka_lag_timeout_s
            ),
            registry=registry,
        )


def make_build_backend(settings: Settings, store: ObjectStore, limits: package.Limits) -> BuildBackend:
    """The build backend `settings.runtime` names."""
    if settings.runtime == "docker":
        return DockerBuild(
            store,
            base_image=settings.runtime_base_image,
            registry=settings.registry,
            wheelhouse=settings.wheelhouse,
            limits=limits,
        )
    return ProcessBuild()


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

"""What a running control plane holds, opened and closed in one place: database, catalog, object store,
token check, builder, scaler client and the clock. The HTTP app and the Catalog gRPC service share one
State."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from control_plane import deployment_configs, package, versions
from control_plane.applications import InvokeUrls
from control_plane.auth import TokenCheck, load_tokens
from control_plane.builder import INTERRUPTED, Builder
from control_plane.builds.base import BuildBackend
from control_plane.builds.docker import DockerBuild
from control_plane.builds.process import ProcessBuild
from control_plane.catalog import Catalog, Notifier
from control_plane.clock import Clock, system_clock
from control_plane.db import create_engine, migrate, sessionmaker
from control_plane.metrics import Metrics
from control_plane.scaler_client import ScalerClient
from control_plane.settings import Settings
from servicekit.grpc_security import ServiceLink
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
    metrics: Metrics
    urls: InvokeUrls
    limits: package.Limits
    clock: Clock


@contextlib.asynccontextmanager
async def open_state(settings: Settings, *, clock: Clock = system_clock) -> AsyncIterator[State]:
    """Migrate the database, recover from an earlier crash, and hold everything open until exit.

    `clock` is what schedules and leases take as now (tests hand in one they move)."""
    async with contextlib.AsyncExitStack() as stack:
        engine = create_engine(settings.database_url)
        stack.push_async_callback(engine.dispose)
        await migrate(engine)
        catalog = Catalog(sessionmaker(engine), Notifier())
        await deployment_configs.ensure_default(catalog)
        interrupted = await versions.fail_interrupted(catalog, INTERRUPTED)
        if interrupted:
            logger.warning("marked failed, their builds were interrupted: %s", ", ".join(interrupted))
        await catalog.notifier.changed(await catalog.revision())
        tokens = await load_tokens(settings, catalog.sessions)

        store = open_object_store(settings.object_store, s3_endpoint_url=settings.s3_endpoint_url)
        stack.push_async_callback(store.close)
        link = ServiceLink.from_settings(settings, load_tls(settings))
        scaler = ScalerClient(settings.scaler_address, settings.scaler_timeout_s, link)
        stack.push_async_callback(scaler.close)
        metrics = Metrics()
        limits = package.Limits(settings.max_unpacked_bytes, settings.max_package_members)
        backend = make_build_backend(settings, store, limits)
        builder = Builder(backend, catalog, metrics, build_concurrency=settings.build_concurrency)
        stack.push_async_callback(builder.close)
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
            metrics=metrics,
            urls=InvokeUrls(settings.router_url, settings.router_grpc_address),
            limits=limits,
            clock=clock,
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

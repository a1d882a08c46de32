"""Wires the scaler together and runs it: `serve(settings)` until cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from protos.hydro.v1 import scaler_pb2_grpc
from scaler.autoscaler import Autoscaler
from scaler.catalog_watch import CatalogWatch
from scaler.fleet import Fleet
from scaler.grpc_edge import ScalerService
from scaler.http_edge import create_http_app
from scaler.load import LoadBoard
from scaler.metrics import Metrics
from scaler.prepull import Prepuller
from scaler.runtimes.base import Runtime
from scaler.runtimes.docker import DockerRuntime
from scaler.runtimes.process import ProcessRuntime
from scaler.settings import Settings
from servicekit.credentials import service_token
from servicekit.grpc_security import ServiceLink, add_port, service_server
from servicekit.serving import HttpServer
from servicekit.tls import http_verify, load_tls
from wire.addresses import host_port

log = logging.getLogger(__name__)


def make_runtime(settings: Settings, metrics: Metrics) -> Runtime:
    """The backend `settings.runtime` names."""
    if settings.runtime == "docker":
        return DockerRuntime(
            stop_timeout_s=settings.scaler_stop_timeout_s,
            pids_limit=settings.scaler_pids_limit,
            tmpfs_mb=settings.scaler_tmpfs_mb,
            metrics=metrics,
            instance=settings.scaler_instance,
            holders=settings.scaler_netns_holders,
            holder_image=settings.runtime_base_image,
            holder_refill_delay_s=settings.scaler_holder_refill_delay_s,
            spares=settings.scaler_spares,
            replica_address=settings.scaler_replica_address,
        )
    return ProcessRuntime(
        settings.home,
        stop_timeout_s=settings.scaler_stop_timeout_s,
        verify=http_verify(settings),
        control_plane_url=settings.control_plane_url,
        service_token=service_token(settings),
    )


async def serve(settings: Settings, *, started: asyncio.Event | None = None) -> None:
    """Run the scaler until cancelled; on cancel, stop serving and stop (or keep) the replicas."""
    metrics = Metrics(settings.runtime)
    runtime = make_runtime(settings, metrics)
    fleet = Fleet(
        runtime,
        metrics,
        ready_timeout_s=settings.scaler_ready_timeout_s,
        health_interval_s=settings.scaler_health_interval_s,
        health_failures=settings.scaler_health_failures,
        # Containers can be adopted by the next scaler; local processes always stop with this one.
        keep_on_exit=settings.runtime == "docker" and settings.scaler_keep_containers,
        drain_settle_s=settings.scaler_drain_settle_s,
        drain_timeout_s=settings.scaler_drain_timeout_s,
        probe_first_interval_s=settings.scaler_probe_interval_s,
        probe_max_interval_s=settings.scaler_probe_max_interval_s,
    )
    tls = load_tls(settings)
    token = service_token(settings)
    catalog = CatalogWatch(settings.catalog_address, link=ServiceLink(token, tls))
    prepuller = (
        Prepuller(runtime, metrics, concurrency=settings.scaler_prepull_concurrency)
        if settings.scaler_prepull
        else None
    )
    autoscaler = Autoscaler(
        fleet,
        catalog,
        LoadBoard(settings.scaler_load_report_ttl_s),
        metrics,
        tick_s=settings.scaler_tick_s,
        utilization=settings.scaler_utilization,
        catalog_wait_s=settings.scaler_catalog_wait_s,
        startup_wait_s=settings.scaler_startup_wait_s,
        prepuller=prepuller,
    )

    def health() -> dict[str, Any]:
        view = catalog.view
        return {
            "status": "ok",
            "runtime": settings.runtime,
            "catalog_connected": catalog.connected,
            "catalog_revision": view.revision if view else None,
            "versions": len(fleet.keys()),
        }

    server = service_server(token)
    scaler_pb2_grpc.add_ScalerServicer_to_server(ScalerService(autoscaler, fleet), server)  # type: ignore[no-untyped-call]
    address = host_port(settings.bind_host, settings.scaler_port)
    add_port(server, address, "the scaler", tls)
    http: HttpServer | None = None
    http_task: asyncio.Task[None] | None = None
    tasks: list[asyncio.Task[None]] = []
    try:
        await server.start()
        if settings.scaler_metrics_port:
            http = HttpServer(
                create_http_app(metrics, health),
                settings.bind_host,
                settings.scaler_metrics_port,
                "the scaler's /metrics",
                header_timeout_s=settings.http_header_timeout_s,
                body_timeout_s=settings.http_body_timeout_s,
            )
            http_task = http.start()
        tasks = [
            asyncio.create_task(catalog.run(), name="catalog-watch"),
            asyncio.create_task(autoscaler.run(), name="autoscaler"),
        ]
        log.info(
            "scaler listening on %s%s (runtime %s, catalog %s, metrics on port %s)",
            address,
            " (TLS)" if tls.serving else "",
            settings.runtime,
            settings.catalog_address,
            settings.scaler_metrics_port or "off",
        )
        if started is not None:
            started.set()
        # Runs until cancelled; a background task that dies takes the scaler down with its error.
        watched = [*tasks, *([http_task] if http_task is not None else [])]
        done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
    finally:
        log.info("scaler shutting down")
        await server.stop(grace=1.0)
        if http is not None:
            await http.stop()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if prepuller is not None:
            await prepuller.close()
        await fleet.close()
        await runtime.close()
        log.info("scaler stopped")

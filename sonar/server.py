"""Wires Sonar together and runs it: `serve(settings)` until cancelled.

settings -> object store, catalog watch (signatures), sample buffer -> ingest (gRPC `hydro.v1.Sonar`,
`sonar.grpc_edge`) and HTTP (`/metrics`, `/health`, `sonar.http_edge`), the retention of old samples
(`sonar.retention`); plus, unless drift is disabled, the drift worker (`sonar.worker`, which flushes the
buffer's window before it reads) and the reference profiles of newly released versions
(`sonar.release_profiles`).

A stop (SIGTERM, Ctrl-C, a cancel from `hydro up`) is graceful: the gRPC server stops taking batches,
then everything buffered is written (retrying for up to `sonar_shutdown_timeout_s`; what still fails
is counted as dropped), then the drift worker is told to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any

from protos.hydro.v1 import sonar_pb2_grpc
from servicekit.credentials import service_token
from servicekit.grpc_security import ServiceLink, add_port, service_server
from servicekit.object_store import open_object_store
from servicekit.serving import HttpServer
from servicekit.tls import load_tls
from sonar.buffer import SampleBuffer
from sonar.catalog_watch import CatalogWatch
from sonar.grpc_edge import IngestService
from sonar.http_edge import create_http_app
from sonar.metrics import Metrics
from sonar.retention import run_retention
from sonar.settings import Settings
from wire.addresses import host_port

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""Largest record batch accepted (the router keeps its batches well under it)."""
DRIFT_WORKER_STOP_S = 10.0


async def serve(settings: Settings, *, started: asyncio.Event | None = None) -> None:
    """Serve until cancelled; `started` is set once the ports listen. On cancel, stop gracefully."""
    metrics = Metrics()
    store = open_object_store(settings.object_store, s3_endpoint_url=settings.s3_endpoint_url)
    tls = load_tls(settings)
    token = service_token(settings)
    catalog = CatalogWatch(
        settings.catalog_address, link=ServiceLink(token, tls), client=settings.worker_name
    )
    buffer = SampleBuffer(
        store,
        metrics,
        flush_rows=settings.sonar_flush_rows,
        flush_bytes=settings.sonar_flush_bytes,
        flush_age_s=settings.sonar_flush_age_s,
        max_bytes=settings.sonar_max_buffered_bytes,
        retry_initial_s=settings.sonar_retry_initial_s,
        retry_max_s=settings.sonar_retry_max_s,
    )
    stop = asyncio.Event()

    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "catalog_connected": catalog.connected,
            "catalog_revision": catalog.revision,
            "object_store": settings.object_store,
            "object_store_failing": buffer.store_failing,
            "buffered_records": buffer.records,
            "buffered_bytes": buffer.nbytes,
        }

    grpc_server = service_server(
        token, options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES), ("grpc.so_reuseport", 0)]
    )
    sonar_pb2_grpc.add_SonarServicer_to_server(  # type: ignore[no-untyped-call]
        IngestService(catalog, buffer, metrics, unknown_version_wait_s=settings.sonar_unknown_version_wait_s),
        grpc_server,
    )
    address = host_port(settings.bind_host, settings.sonar_port)
    add_port(grpc_server, address, "Sonar's ingest", tls)
    http = None
    if settings.sonar_metrics_port:
        http = HttpServer(
            create_http_app(metrics, health),
            settings.bind_host,
            settings.sonar_metrics_port,
            "Sonar's /metrics",
            header_timeout_s=settings.http_header_timeout_s,
            body_timeout_s=settings.http_body_timeout_s,
        )
    background: list[asyncio.Task[None]] = []
    drift: asyncio.Task[None] | None = None
    http_task: asyncio.Task[None] | None = None
    try:
        await grpc_server.start()
        background = [
            asyncio.create_task(catalog.run(), name="sonar catalog watch"),
            asyncio.create_task(buffer.run(), name="sonar sample writer"),
        ]
        if settings.sample_retention_interval_s:
            background.append(
                asyncio.create_task(
                    run_retention(settings, store, metrics, lambda: catalog.retention_days),
                    name="sonar sample retention",
                )
            )
        if http is not None:
            http_task = http.start()
            background.append(http_task)
        if settings.drift_enabled:
            # Imported here: the drift worker pulls in scipy, which ingest alone never needs.
            from sonar.release_profiles import ReleaseProfiler
            from sonar.worker import run_drift_worker

            profiler = ReleaseProfiler()

            async def flush(model: str, version: int, start: datetime, end: datetime) -> int:
                return await buffer.flush(
                    model, version, _ms(start), _ms(end), settings.drift_flush_timeout_s
                )

            drift = asyncio.create_task(
                run_drift_worker(settings, store, stop, flush), name="sonar drift worker"
            )
            catalog.on_new_version(profiler.released)
            background.append(
                asyncio.create_task(profiler.run(settings, store), name="sonar release profiles")
            )
        log.info(
            "sonar listening: ingest gRPC on %s%s, metrics on port %s; catalog %s; samples to %s",
            address,
            " (TLS)" if tls.serving else "",
            settings.sonar_metrics_port or "off",
            settings.catalog_address,
            settings.object_store,
        )
        if started is not None:
            started.set()
        watched = {*background, *([drift] if drift is not None else [])}
        while True:
            done, watched = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a background loop only ends by failing: surface it
                if task is not drift:
                    raise RuntimeError(f"{task.get_name()} stopped unexpectedly")
                log.warning("the drift worker returned; Sonar keeps ingesting")
    finally:
        log.info("sonar stopping: no more batches; writing what is buffered")
        stop.set()
        await grpc_server.stop(grace=2.0)
        for task in background:
            if task is not http_task:
                task.cancel()
        await asyncio.gather(*(t for t in background if t is not http_task), return_exceptions=True)
        await buffer.close(settings.sonar_shutdown_timeout_s)
        if drift is not None:
            await asyncio.wait({drift}, timeout=DRIFT_WORKER_STOP_S)
            drift.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    await drift
                except Exception:
                    log.exception("the drift worker failed")
        if http is not None:
            await http.stop()
        await store.close()
        log.info("sonar stopped")


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)

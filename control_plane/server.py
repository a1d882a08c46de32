"""Runs the control plane: the REST API (uvicorn) and the Catalog gRPC service, sharing one State."""

from __future__ import annotations

import asyncio
import logging

from control_plane.app import create_app
from control_plane.clock import Clock, system_clock
from control_plane.grpc_edge import start_catalog_server
from control_plane.settings import Settings
from control_plane.state import open_state
from servicekit.credentials import service_token
from servicekit.serving import HttpServer
from servicekit.tls import load_tls

logger = logging.getLogger(__name__)


async def serve(
    settings: Settings, *, started: asyncio.Event | None = None, clock: Clock = system_clock
) -> None:
    """Serve until cancelled; `started` is set once both ports listen. On cancel, shut down gracefully.

    `clock` is the State's notion of now (schedules, leases); tests hand in one they control."""
    host = settings.bind_host
    tls = load_tls(settings)
    token = service_token(settings)
    async with open_state(settings, clock=clock) as state:
        http = HttpServer(
            create_app(settings, state=state),
            host,
            settings.control_plane_port,
            "the control plane API",
            tls=tls,
            header_timeout_s=settings.http_header_timeout_s,
            body_timeout_s=settings.http_body_timeout_s,
            lifespan="on",
            log_level="info",
            access_log=True,
        )
        try:
            catalog_server = await start_catalog_server(
                state.catalog, host, settings.catalog_port, token=token, tls=tls
            )
            try:
                task = http.start()
                try:
                    await http.wait_started()
                    logger.info(
                        "control plane listening: API on %s://%s:%d, Catalog gRPC on %s:%d%s",
                        http.scheme,
                        host,
                        settings.control_plane_port,
                        host,
                        settings.catalog_port,
                        " (TLS)" if tls.serving else "",
                    )
                    if started is not None:
                        started.set()
                    await asyncio.wait({task})
                finally:
                    await http.stop()
            finally:
                await catalog_server.stop(grace=1.0)
        finally:
            http.listener.close()

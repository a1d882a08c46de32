"""Runs the control plane: the REST API (uvicorn) and the Catalog gRPC service, sharing one State."""

from __future__ import annotations

import asyncio
import logging

import uvicorn

from control_plane.app import create_app
from control_plane.clock import Clock, system_clock
from control_plane.grpc_edge import start_catalog_server
from control_plane.settings import Settings
from control_plane.state import open_state
from servicekit.serving import CancellableServer, listen_tcp

logger = logging.getLogger(__name__)


async def serve(
    settings: Settings, *, started: asyncio.Event | None = None, clock: Clock = system_clock
) -> None:
    """Serve until cancelled; `started` is set once both ports listen. On cancel, shut down gracefully.

    `clock` is the State's notion of now (schedules, leases); tests hand in one they control."""
    host = settings.bind_host
    async with open_state(settings, clock=clock) as state:
        listener = listen_tcp(host, settings.control_plane_port, "the control plane API")
        try:
            catalog_server = await start_catalog_server(state.catalog, host, settings.catalog_port)
            try:
                config = uvicorn.Config(create_app(settings, state=state), lifespan="on", log_level="info")
                server = CancellableServer(config)
                task = asyncio.create_task(server.serve(sockets=[listener]), name="control plane http")
                try:
                    while not server.started and not task.done():
                        await asyncio.sleep(0.01)
                    if task.done():
                        task.result()
                        port = settings.control_plane_port
                        raise OSError(f"the control plane API stopped while starting on {host}:{port}")
                    logger.info(
                        "control plane listening: API on http://%s:%d, Catalog gRPC on %s:%d",
                        host,
                        settings.control_plane_port,
                        host,
                        settings.catalog_port,
                    )
                    if started is not None:
                        started.set()
                    await asyncio.wait({task})
                finally:
                    server.should_exit = True
                    await asyncio.wait({task})
            finally:
                await catalog_server.stop(grace=1.0)
        finally:
            listener.close()

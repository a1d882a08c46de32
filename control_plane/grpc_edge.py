"""The control plane's gRPC edge: `hydro.v1.Catalog.Watch`, a full routing snapshot on connect, then one
after every change (the router, the scaler and Sonar follow it, with the service credential), and
`hydro.v1.Catalog.Acknowledge`, by which a router says which revision it serves from (`routers.py`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc

from control_plane.catalog import Catalog
from protos.hydro.v1 import catalog_pb2, catalog_pb2_grpc
from servicekit.grpc_security import add_port, service_server
from servicekit.tls import Tls
from wire.addresses import host_port

logger = logging.getLogger(__name__)

ROUTER = "router"
"""WatchRequest.kind of a router, which acknowledges every snapshot it applies."""


class CatalogEdge(catalog_pb2_grpc.CatalogServicer):
    """Serves the catalog's snapshots to watchers; the catalog itself (`catalog.py`) builds them."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    async def Watch(  # noqa: N802 - the gRPC method name
        self, request: catalog_pb2.WatchRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[catalog_pb2.Snapshot]:
        client = request.client or context.peer()
        if request.kind not in ("", ROUTER):
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"unknown watcher kind {request.kind!r}: {ROUTER!r} for a router, empty for any other",
            )
        routers = self._catalog.routers
        router = routers.connect(client) if request.kind == ROUTER else None
        logger.info("catalog watch opened by %s%s", client, " (a router)" if router else "")
        sent = -1
        try:
            while True:
                try:
                    snapshot = await self._catalog.snapshot()
                except Exception as exc:
                    logger.exception("cannot load the catalog snapshot for %s", client)
                    await context.abort(
                        grpc.StatusCode.UNAVAILABLE,
                        f"the catalog database is not reachable: {type(exc).__name__}",
                    )
                if snapshot.revision > sent:
                    if router is not None:
                        snapshot.watch_id = router.id
                    yield snapshot
                    sent = snapshot.revision
                await self._catalog.notifier.wait_past(sent)
        finally:
            if router is not None:
                routers.disconnect(router)
            logger.info("catalog watch closed by %s", client)

    async def Acknowledge(  # noqa: N802 - the gRPC method name
        self, request: catalog_pb2.Acknowledgement, context: grpc.aio.ServicerContext[Any, Any]
    ) -> catalog_pb2.AcknowledgeReply:
        known = self._catalog.routers.acknowledge(request.watch_id, request.revision)
        if not known:
            logger.info(
                "acknowledgement of revision %d on watch %r, which is not open here",
                request.revision,
                request.watch_id,
            )
        return catalog_pb2.AcknowledgeReply(known=known)


async def start_catalog_server(
    catalog: Catalog, host: str, port: int, *, token: str, tls: Tls
) -> grpc.aio.Server:
    """Serve Catalog.Watch on host:port to callers with the service credential `token`, over TLS when
    `tls` has a certificate; raise OSError naming the address when it cannot be bound."""
    server = service_server(token)
    catalog_pb2_grpc.add_CatalogServicer_to_server(CatalogEdge(catalog), server)  # type: ignore[no-untyped-call]
    add_port(server, host_port(host, port), "the Catalog gRPC service", tls)
    await server.start()
    return server

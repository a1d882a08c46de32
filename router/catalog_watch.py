"""The router's view of the control plane: `servicekit.catalog_watch.CatalogWatch` reading each
`hydro.v1.Catalog/Watch` snapshot into a `RoutingTable`.

The control plane sends a full `Snapshot` on connect and after every change; the router keeps serving
from the last table while the control plane is down.
"""

from __future__ import annotations

import logging

from protos.hydro.v1 import catalog_pb2
from router.routing import RoutingTable
from servicekit import catalog_watch
from servicekit.grpc_security import ServiceLink

log = logging.getLogger(__name__)


def read_table(snapshot: catalog_pb2.Snapshot) -> RoutingTable:
    table = RoutingTable.from_snapshot(snapshot)
    log.debug(
        "catalog revision %d: %d applications, %d versions",
        table.revision,
        len(table.routes),
        len(table.versions),
    )
    return table


class CatalogWatch(catalog_watch.CatalogWatch[RoutingTable]):
    """Follows the catalog as a router; `view` is the routing table of the last snapshot received (None
    before the first), and each one applied is acknowledged to the control plane."""

    def __init__(
        self,
        address: str,
        *,
        link: ServiceLink,
        client: str = "router",
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 2.0,
    ) -> None:
        super().__init__(
            address,
            read_table,
            client=client,
            link=link,
            kind="router",
            backoff_initial_s=backoff_initial_s,
            backoff_max_s=backoff_max_s,
        )

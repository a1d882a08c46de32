"""The scaler's view of the control plane's catalog: the versions and deployment configs of the last
`hydro.v1.Catalog/Watch` snapshot (followed by `servicekit.catalog_watch.CatalogWatch`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from protos.hydro.v1 import catalog_pb2
from servicekit import catalog_watch
from servicekit.grpc_security import ServiceLink

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CatalogView:
    """One snapshot, indexed by what the scaler looks up."""

    revision: int
    versions: dict[str, catalog_pb2.ModelVersion] = field(default_factory=dict)
    configs: dict[str, catalog_pb2.DeploymentConfig] = field(default_factory=dict)

    @classmethod
    def from_snapshot(cls, snapshot: catalog_pb2.Snapshot) -> CatalogView:
        return cls(
            revision=snapshot.revision,
            versions={v.key: v for v in snapshot.versions},
            configs={c.name: c for c in snapshot.deployment_configs},
        )

    def config_of(self, version: catalog_pb2.ModelVersion) -> catalog_pb2.DeploymentConfig | None:
        """The deployment config the version runs under (None when the snapshot lacks it)."""
        return self.configs.get(version.deployment_config)


class CatalogWatch(catalog_watch.CatalogWatch[CatalogView]):
    """Follows the catalog; `view` is the last snapshot received (None before the first one)."""

    def __init__(
        self,
        address: str,
        *,
        link: ServiceLink,
        client: str = "scaler",
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 2.0,
    ) -> None:
        super().__init__(
            address,
            CatalogView.from_snapshot,
            client=client,
            link=link,
            backoff_initial_s=backoff_initial_s,
            backoff_max_s=backoff_max_s,
        )
        self.on_change(_log_revision)

    async def wait_for_version(self, key: str, timeout: float) -> catalog_pb2.ModelVersion | None:
        """The version `key`, waiting up to `timeout` seconds for a snapshot that lists it."""
        view = await self.wait_for(lambda view: key in view.versions, timeout)
        return view.versions.get(key) if view is not None else None


def _log_revision(view: CatalogView) -> None:
    log.debug("catalog revision %d: %d versions", view.revision, len(view.versions))

"""The scaler's view of the control plane's catalog: a client of `hydro.v1.Catalog/Watch`.

The control plane sends a full `Snapshot` on connect and after every change. The watch keeps the last
one and keeps serving from it while the control plane is down, reconnecting with a capped exponential
backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from protos.hydro.v1 import catalog_pb2
from scaler.changes import Changes
from servicekit.stream_follower import CatalogFollower

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


class CatalogWatch:
    """Follows the catalog; `view` is the last snapshot received (None before the first one)."""

    def __init__(
        self,
        address: str,
        *,
        client: str = "scaler",
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 2.0,
    ) -> None:
        self.address = address
        self.client = client
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.view: CatalogView | None = None
        self._follower = CatalogFollower(
            address,
            client,
            self._apply,
            kept=self._kept,
            backoff_initial_s=backoff_initial_s,
            backoff_max_s=backoff_max_s,
        )
        self.changes = Changes()
        self._listeners: list[Callable[[CatalogView], None]] = []

    def on_change(self, listener: Callable[[CatalogView], None]) -> None:
        """Call `listener` with every new view (synchronously, in the event loop)."""
        self._listeners.append(listener)

    @property
    def connected(self) -> bool:
        return self._follower.connected

    async def run(self) -> None:
        """Watch until cancelled, reconnecting whenever the stream ends or fails."""
        await self._follower.run()

    async def wait_for_view(self, timeout: float) -> CatalogView | None:
        """The current view, waiting up to `timeout` seconds for the first one."""
        try:
            async with asyncio.timeout(timeout):
                while self.view is None:
                    await self.changes.wait(self.changes.generation)
        except TimeoutError:
            pass
        return self.view

    async def wait_for_version(self, key: str, timeout: float) -> catalog_pb2.ModelVersion | None:
        """The version `key`, waiting up to `timeout` seconds for a snapshot that lists it."""
        try:
            async with asyncio.timeout(timeout):
                while self.view is None or key not in self.view.versions:
                    await self.changes.wait(self.changes.generation)
        except TimeoutError:
            return None
        return self.view.versions[key]

    def _apply(self, snapshot: catalog_pb2.Snapshot) -> None:
        view = CatalogView.from_snapshot(snapshot)
        log.debug("catalog revision %d: %d versions", view.revision, len(view.versions))
        self.view = view
        self.changes.notify()
        for listener in self._listeners:
            try:
                listener(view)
            except Exception:
                log.exception("applying catalog revision %d failed", view.revision)

    def _kept(self) -> str:
        return f"serving from revision {self.view.revision}" if self.view else "no snapshot yet"

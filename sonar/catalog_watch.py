"""Sonar's view of the control plane: the signature of every version, from `hydro.v1.Catalog/Watch`.

A version's signature never changes, so every version ever seen is kept (records of a version that has
just left the catalog may still be on their way). A router can learn of a new version a moment before
Sonar does, so a record of an unknown version waits a little for the next snapshot (`schema`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from protos.hydro.v1 import catalog_pb2
from servicekit.stream_follower import CatalogFollower
from sonar.rows import SampleSchema
from wire.signature import Signature

log = logging.getLogger(__name__)


class CatalogWatch:
    def __init__(self, address: str, *, client: str = "sonar", backoff_max_s: float = 2.0) -> None:
        self.address = address
        self.client = client
        self.backoff_max_s = backoff_max_s
        self.revision: int | None = None
        self._schemas: dict[tuple[str, int], SampleSchema] = {}
        self._next_snapshot = asyncio.Event()
        self._missing: set[tuple[str, int]] = set()
        """Versions found missing from the current revision (not waited for again until it changes)."""
        self._follower = CatalogFollower(
            address,
            client,
            self.apply,
            kept=lambda: f"keeping the signatures of {len(self._schemas)} versions",
            backoff_max_s=backoff_max_s,
        )
        self._on_new_version: list[Callable[[str, int, str], None]] = []

    def on_new_version(self, callback: Callable[[str, int, str], None]) -> None:
        """Call `callback(model, version, training_data path or "")` once for each version first seen."""
        self._on_new_version.append(callback)

    @property
    def connected(self) -> bool:
        return self._follower.connected

    async def run(self) -> None:
        """Follow the catalog until cancelled, reconnecting whenever the stream ends or fails."""
        await self._follower.run()

    def apply(self, snapshot: catalog_pb2.Snapshot) -> None:
        for message in snapshot.versions:
            key = (message.model, int(message.version))
            if key in self._schemas:
                continue
            try:
                signature = Signature.from_proto(message.signature)
                self._schemas[key] = SampleSchema(message.model, int(message.version), signature)
                for callback in self._on_new_version:
                    callback(message.model, int(message.version), message.training_data)
            except Exception:
                log.exception(
                    "the signature of %s in catalog revision %d cannot be read",
                    message.key,
                    snapshot.revision,
                )
        self.revision = snapshot.revision
        self._missing.clear()
        arrived, self._next_snapshot = self._next_snapshot, asyncio.Event()
        arrived.set()

    async def schema(self, model: str, version: int, wait_s: float) -> SampleSchema | None:
        """The version's sample schema; None when the catalog does not list it within `wait_s` seconds
        (waited only once per catalog revision, so a stream of records of an unknown version is not slowed
        down on every batch)."""
        key = (model, version)
        found = self._schemas.get(key)
        if found is not None:
            return found
        if key in self._missing:
            return None
        try:
            async with asyncio.timeout(wait_s):
                while key not in self._schemas:
                    await self._next_snapshot.wait()
        except TimeoutError:
            self._missing.add(key)
        return self._schemas.get(key)

"""Sonar's view of the control plane: the signature of every version, from `hydro.v1.Catalog/Watch`.

The generic `servicekit.catalog_watch.CatalogWatch` keeps the last snapshot; Sonar reads each snapshot
into `Signatures`, which adds the versions it lists to those seen before and takes the models' own
sample retention (`retention_days`, for `sonar.retention`). A version's signature never
changes, so every version ever seen is kept (records of a version that has just left the catalog may
still be on their way). A router can learn of a new version a moment before Sonar does, so a record of an
unknown version waits a little for the next snapshot (`schema`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from protos.hydro.v1 import catalog_pb2
from servicekit.catalog_watch import CatalogWatch as GenericCatalogWatch
from servicekit.grpc_security import ServiceLink
from sonar.rows import SampleSchema
from wire.signature import Signature

log = logging.getLogger(__name__)

VersionKey = tuple[str, int]


@dataclass(frozen=True)
class NewVersion:
    """A version listed for the first time, with its `training_data` path ("" when it has none)."""

    model: str
    version: int
    training_data: str


@dataclass(frozen=True)
class Signatures:
    """The sample schema of every version seen up to `revision`; `added` lists the ones it first listed."""

    revision: int
    schemas: Mapping[VersionKey, SampleSchema]
    added: tuple[NewVersion, ...] = ()
    retention_days: Mapping[str, float] = field(default_factory=dict)
    """Days of sampled traffic to keep, for the models that set their own (this revision's values)."""


def read_signatures(snapshot: catalog_pb2.Snapshot, seen: Signatures | None) -> Signatures:
    """`seen` plus the versions `snapshot` lists for the first time; a signature that cannot be read is
    logged and skipped (the other versions still count)."""
    schemas = dict(seen.schemas) if seen is not None else {}
    added: list[NewVersion] = []
    # Served versions and external ones (monitored only, their samples sent through the control plane).
    for message in (*snapshot.versions, *snapshot.monitored_versions):
        key = (message.model, int(message.version))
        if key in schemas:
            continue
        try:
            schema = SampleSchema(
                message.model, int(message.version), Signature.from_proto(message.signature)
            )
        except Exception:
            log.exception(
                "the signature of %s in catalog revision %d cannot be read", message.key, snapshot.revision
            )
            continue
        schemas[key] = schema
        added.append(NewVersion(message.model, int(message.version), message.training_data))
    return Signatures(snapshot.revision, schemas, tuple(added), dict(snapshot.sample_retention_days.items()))


class CatalogWatch(GenericCatalogWatch[Signatures]):
    """Follows the catalog at `address` as `client`; `schema` answers a version's sample schema."""

    def __init__(
        self, address: str, *, link: ServiceLink, client: str = "sonar", backoff_max_s: float = 2.0
    ) -> None:
        super().__init__(
            address,
            lambda snapshot: read_signatures(snapshot, self.view),
            client=client,
            link=link,
            backoff_max_s=backoff_max_s,
        )
        self._missing: set[VersionKey] = set()
        """Versions found missing from the current revision (not waited for again until it changes)."""
        self.on_change(lambda view: self._missing.clear())

    @property
    def revision(self) -> int | None:
        return self.view.revision if self.view is not None else None

    @property
    def retention_days(self) -> Mapping[str, float] | None:
        """The models' own retention, in days, from the latest snapshot; None before the first one."""
        return self.view.retention_days if self.view is not None else None

    def on_new_version(self, callback: Callable[[str, int, str], None]) -> None:
        """Call `callback(model, version, training_data path or "")` once for each version first seen."""

        def call(view: Signatures) -> None:
            for new in view.added:
                callback(new.model, new.version, new.training_data)

        self.on_change(call)

    async def schema(self, model: str, version: int, wait_s: float) -> SampleSchema | None:
        """The version's sample schema; None when the catalog does not list it within `wait_s` seconds
        (waited only once per catalog revision, so a stream of records of an unknown version is not slowed
        down on every batch)."""
        key = (model, version)
        if self.view is not None and key in self.view.schemas:
            return self.view.schemas[key]
        if key in self._missing:
            return None
        view = await self.wait_for(lambda view: key in view.schemas, wait_s)
        found = view.schemas.get(key) if view is not None else None
        if found is None:
            self._missing.add(key)
        return found

    def _kept(self) -> str:
        return f"keeping the signatures of {len(self.view.schemas) if self.view else 0} versions"

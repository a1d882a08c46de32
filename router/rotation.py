"""The replicas of one version in rotation: those the scaler lists as ready, minus those quarantined.

A replica that refuses a connection (or answers for another model) is taken out at once, for
`quarantine_s` or until the scaler stops listing it, whichever comes first: the scaler's health checks
take seconds to notice what the router sees on the next call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from protos.inference import grpc_service_pb2_grpc as pb_grpc
from router.channels import ChannelPool

log = logging.getLogger(__name__)

Endpoint = tuple[str, str]
"""(replica_id, address) of a ready replica, as the scaler lists it."""


@dataclass(eq=False)
class Replica:
    """A ready replica of one version and the requests this router has outstanding on it."""

    replica_id: str
    address: str
    stub: pb_grpc.GRPCInferenceServiceStub
    outstanding: int = 0


class Rotation:
    """Version `key`'s replicas in rotation; `on_change` is called whenever `replicas` is rebuilt."""

    def __init__(
        self, key: str, pool: ChannelPool, *, quarantine_s: float, on_change: Callable[[], None]
    ) -> None:
        self.key = key
        self.replicas: list[Replica] = []
        self.takeouts = 0
        self._pool = pool
        self._quarantine_s = quarantine_s
        self._on_change = on_change
        self._listed: dict[str, Replica] = {}
        self._quarantine: dict[str, float] = {}

    def set_endpoints(self, endpoints: Sequence[Endpoint]) -> None:
        """The scaler's current list of ready replicas of this version."""
        listed: dict[str, Replica] = {}
        for replica_id, address in endpoints:
            known = self._listed.get(replica_id)
            if known is None or known.address != address:
                known = Replica(replica_id, address, self._pool.stub(address))
            listed[replica_id] = known
        self._listed = listed
        self._quarantine = {rid: until for rid, until in self._quarantine.items() if rid in listed}
        self._rotate()

    def take_out(self, replica: Replica, reason: str) -> None:
        """Stop sending to `replica` for `quarantine_s` or until it is unlisted."""
        if replica.replica_id not in self._listed or replica.replica_id in self._quarantine:
            return
        self.takeouts += 1
        log.warning(
            "%s: replica %s at %s out of rotation: %s", self.key, replica.replica_id, replica.address, reason
        )
        loop = asyncio.get_running_loop()
        self._quarantine[replica.replica_id] = loop.time() + self._quarantine_s
        loop.call_later(self._quarantine_s, self._rotate)
        self._rotate()

    def _rotate(self) -> None:
        """Rebuild the rotation from the scaler's list minus the quarantined replicas."""
        # The margin: the loop may run the expiry timer up to its clock resolution early.
        now = asyncio.get_running_loop().time() + 0.005
        self._quarantine = {rid: until for rid, until in self._quarantine.items() if until > now}
        self.replicas = [r for rid, r in self._listed.items() if rid not in self._quarantine]
        self._on_change()

"""The control plane's link to Sonar's ingest (`hydro.v1.Sonar/Ingest`), for external versions' samples.

A batch is sent on a stream of its own and counts as delivered once Sonar answered it with an `IngestAck`
(its records are then in Sonar's buffer, on their way to Parquet), as a router's sampler counts it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import grpc

from control_plane.errors import ServiceUnavailable
from protos.hydro.v1 import sonar_pb2, sonar_pb2_grpc
from servicekit.grpc_security import ServiceLink

logger = logging.getLogger(__name__)


class SonarClient:
    """A channel to Sonar at `address` (over `link`: the service credential, TLS)."""

    def __init__(self, address: str, timeout_s: float, link: ServiceLink) -> None:
        self._address = address
        self._timeout_s = timeout_s
        self._link = link
        self._channel: grpc.aio.Channel | None = None

    async def ingest(self, records: Sequence[sonar_pb2.ExecutionRecord]) -> None:
        """Hand `records` to Sonar as one batch; ServiceUnavailable unless Sonar took every one of them."""
        if not self._address:
            raise ServiceUnavailable(
                "Sonar is not configured (HYDRO_SONAR_ADDRESS is empty): samples cannot be taken"
            )
        if self._channel is None:
            self._channel = self._link.channel(self._address)
        stub = sonar_pb2_grpc.SonarStub(self._channel)  # type: ignore[no-untyped-call]
        batch = sonar_pb2.RecordBatch(seq=1, records=records)
        try:
            ack = await asyncio.wait_for(self._send(stub, batch), self._timeout_s)
        except (grpc.aio.AioRpcError, TimeoutError) as exc:
            detail = exc.code().name if isinstance(exc, grpc.aio.AioRpcError) else "no answer in time"
            logger.warning("Sonar at %s did not take %d samples: %s", self._address, len(records), detail)
            raise ServiceUnavailable(
                f"Sonar at {self._address} did not take the samples ({detail}); nothing was recorded, "
                "send them again"
            ) from None
        if ack.accepted != len(records):
            # The samples were checked against the same signature Sonar checks; a refusal means Sonar does
            # not list the version yet (a new version's catalog revision is on its way).
            logger.warning(
                "Sonar at %s took %d of %d samples (%d refused)",
                self._address,
                ack.accepted,
                len(records),
                ack.rejected,
            )
            raise ServiceUnavailable(
                f"Sonar at {self._address} took {ack.accepted} of {len(records)} samples and refused "
                f"{ack.rejected} (it may not list this version yet); send the refused ones again"
            )

    async def _send(
        self, stub: sonar_pb2_grpc.SonarStub, batch: sonar_pb2.RecordBatch
    ) -> sonar_pb2.IngestAck:
        call = stub.Ingest()
        try:
            await call.write(batch)
            await call.done_writing()
        except asyncio.InvalidStateError:
            pass  # the call already ended (Sonar unreachable): reading it raises its status below
        async for ack in call:
            if isinstance(ack, sonar_pb2.IngestAck) and ack.seq == batch.seq:
                return ack
        raise TimeoutError("the stream ended before Sonar answered the batch")

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close(grace=None)

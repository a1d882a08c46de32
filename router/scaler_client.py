"""The router's link to the scaler (`hydro.v1.Scaler`): ready endpoints in, activations and load out.

- WatchEndpoints: the scaler streams the full list of ready replicas per version on connect and after
  every change; each list replaces the last (versions it omits have no ready replica). While the scaler
  is unreachable the last list stands: the replicas may well still serve.
- Activate: wake a version (the dispatcher makes sure of one call per version at a time).
- ReportLoad: a client stream of load reports, about once a second, and at once when a version that
  showed no demand in the last report gets some (so a cold start never waits for the next tick).
Both streams reconnect with a capped, jittered exponential backoff.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Protocol

import grpc

from protos.hydro.v1 import scaler_pb2, scaler_pb2_grpc
from router.errors import ActivationError
from router.load_window import VersionLoad
from router.rotation import Endpoint
from servicekit.grpc_security import ServiceLink
from servicekit.stream_follower import RECONNECT_CHANNEL_OPTIONS, StreamFollower

log = logging.getLogger(__name__)


class EndpointSink(Protocol):
    """What the link feeds and reads: the dispatcher."""

    def set_endpoints(self, endpoints: Mapping[str, Sequence[Endpoint]]) -> None: ...

    def loads(self) -> list[VersionLoad]: ...


class ScalerClient:
    """One channel to the scaler, over `link` (the service credential, TLS); `run(sink)` keeps both
    streams up until cancelled."""

    def __init__(
        self,
        address: str,
        router_id: str,
        *,
        link: ServiceLink,
        report_interval_s: float = 1.0,
        activate_timeout_s: float = 10.0,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 2.0,
    ) -> None:
        self.address = address
        self.router_id = router_id
        self.link = link
        self.report_interval_s = report_interval_s
        self.activate_timeout_s = activate_timeout_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.reports_sent = 0
        self._endpoints_follower: StreamFollower[scaler_pb2.ReplicaState] | None = None
        self._channel: grpc.aio.Channel | None = None
        self._stub: scaler_pb2_grpc.ScalerStub | None = None
        self._demand = asyncio.Event()
        self._reported: dict[str, int] = {}

    async def __aenter__(self) -> ScalerClient:
        self._channel = self.link.channel(self.address, options=RECONNECT_CHANNEL_OPTIONS)
        self._stub = scaler_pb2_grpc.ScalerStub(self._channel)  # type: ignore[no-untyped-call]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._channel is not None:
            await self._channel.close(None)

    @property
    def stub(self) -> scaler_pb2_grpc.ScalerStub:
        if self._stub is None:
            raise RuntimeError("ScalerClient is used outside `async with`")
        return self._stub

    async def activate(self, version_key: str) -> None:
        """Ask the scaler to wake `version_key`; raise ActivationError naming why it could not."""
        try:
            response = await self.stub.Activate(
                scaler_pb2.ActivateRequest(version_key=version_key), timeout=self.activate_timeout_s
            )
        except grpc.aio.AioRpcError as exc:
            raise ActivationError(
                f"the scaler at {self.address} did not activate {version_key}: "
                f"{exc.code().name}: {exc.details()}"
            ) from None
        log.info(
            "activated %s: %d ready, %d desired",
            version_key,
            response.ready_replicas,
            response.desired_replicas,
        )

    def notify_demand(self, version_key: str) -> None:
        """A version's demand rose from zero: report at once unless the last report already showed some."""
        if not self._reported.get(version_key):
            self._demand.set()

    async def run(self, sink: EndpointSink) -> None:
        """Watch endpoints and stream load reports until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._watch(sink), name="scaler endpoints watch")
            group.create_task(self._report(sink), name="scaler load reports")

    @property
    def connected(self) -> bool:
        """Whether the endpoint watch currently receives from the scaler."""
        return self._endpoints_follower is not None and self._endpoints_follower.connected

    async def _watch(self, sink: EndpointSink) -> None:
        request = scaler_pb2.WatchEndpointsRequest(client=self.router_id)

        def apply(state: scaler_pb2.ReplicaState) -> None:
            sink.set_endpoints(
                {v.version_key: [(e.replica_id, e.address) for e in v.ready] for v in state.versions}
            )

        self._endpoints_follower = StreamFollower(
            f"scaler {self.address}",
            lambda: self.stub.WatchEndpoints(request),
            apply,
            kept=lambda: "keeping the last endpoints",
            backoff_initial_s=self.backoff_initial_s,
            backoff_max_s=self.backoff_max_s,
        )
        await self._endpoints_follower.run()

    async def _report(self, sink: EndpointSink) -> None:
        backoff = self.backoff_initial_s
        while True:
            started = time.monotonic()
            try:
                await self.stub.ReportLoad(self._reports(sink))
                reason = "the scaler closed the stream"
            except grpc.aio.AioRpcError as exc:
                reason = f"{exc.code().name}: {exc.details()}"
            log.debug("load reports to %s interrupted (%s); reconnecting", self.address, reason)
            if time.monotonic() - started > self.backoff_max_s:
                backoff = self.backoff_initial_s
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(self.backoff_max_s, backoff * 2)

    async def _reports(self, sink: EndpointSink) -> AsyncIterator[scaler_pb2.LoadReport]:
        while True:
            self._demand.clear()
            loads = sink.loads()
            self._reported = {load.version_key: load.demand for load in loads}
            self.reports_sent += 1
            yield scaler_pb2.LoadReport(
                router_id=self.router_id,
                versions=[
                    scaler_pb2.VersionLoad(version_key=v.version_key, in_flight=v.in_flight, queued=v.queued)
                    for v in loads
                ],
                sent_at_ms=int(time.time() * 1000),
            )
            try:
                async with asyncio.timeout(self.report_interval_s):
                    await self._demand.wait()
            except TimeoutError:
                pass

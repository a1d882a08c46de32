"""The scaler's gRPC service serves only callers with the service credential, and presents it itself."""

from __future__ import annotations

import grpc
import pytest

from protos.hydro.v1 import scaler_pb2, scaler_pb2_grpc
from servicekit.grpc_security import ServiceLink
from tests.scaler.catalog import CatalogServer
from tests.scaler.conftest import ScalerFactory
from tests.scaler.harness import SERVICE_TOKEN


async def _calls(channel: grpc.aio.Channel) -> dict[str, grpc.aio.AioRpcError | None]:
    """Every method of hydro.v1.Scaler, called once: the error each answered (None when it answered)."""
    stub = scaler_pb2_grpc.ScalerStub(channel)  # type: ignore[no-untyped-call]

    async def no_reports() -> object:
        for report in ():
            yield report

    async def first_endpoints() -> None:
        async for _ in stub.WatchEndpoints(scaler_pb2.WatchEndpointsRequest(client="tests"), timeout=5):
            return

    calls = {
        "ListReplicas": lambda: stub.ListReplicas(scaler_pb2.ListReplicasRequest(), timeout=5),
        "Activate": lambda: stub.Activate(scaler_pb2.ActivateRequest(version_key="unknown:1"), timeout=5),
        "ReportLoad": lambda: stub.ReportLoad(no_reports(), timeout=5),
        "WatchEndpoints": first_endpoints,
    }
    outcomes: dict[str, grpc.aio.AioRpcError | None] = {}
    for name, call in calls.items():
        try:
            await call()
            outcomes[name] = None
        except grpc.aio.AioRpcError as exc:
            outcomes[name] = exc
    return outcomes


async def test_callers_without_the_service_credential_are_refused_on_every_method(
    start_scaler: ScalerFactory, catalog: CatalogServer, caplog: pytest.LogCaptureFixture
) -> None:
    scaler = await start_scaler()
    for link in ("none", "wrong"):
        channel = (
            grpc.aio.insecure_channel(scaler.address)
            if link == "none"
            else ServiceLink("not-the-credential").channel(scaler.address)
        )
        async with channel:
            outcomes = await _calls(channel)
        for method, error in outcomes.items():
            assert error is not None, f"{method} answered a caller with {link} credential"
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED, (method, error)
            assert error.details().startswith(f"/hydro.v1.Scaler/{method} needs the service credential")
    refused = [
        r.getMessage() for r in caplog.records if r.getMessage().startswith("refused /hydro.v1.Scaler/")
    ]
    assert len(refused) == 8, refused

    outcomes = await _calls(scaler.channel)  # the harness's channel carries the credential
    assert outcomes["ListReplicas"] is None and outcomes["WatchEndpoints"] is None
    assert outcomes["ReportLoad"] is None
    # Activate of a version the catalog does not list is refused for that reason, not the credential.
    activate = outcomes["Activate"]
    assert activate is not None and activate.code() == grpc.StatusCode.NOT_FOUND, activate

    # The scaler follows the catalog with the same credential.
    assert catalog.authorizations and set(catalog.authorizations) == {f"Bearer {SERVICE_TOKEN}"}

"""The process backend runs versions whose package lives in S3: it downloads them from the control plane's
package endpoint with the service credential (moto's S3 server on loopback stands in for MinIO / AWS S3; the
control plane is the real one)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from protos.inference import grpc_service_pb2_grpc
from scaler.errors import ArtifactError
from scaler.probe import ReadyProbe
from scaler.runtimes.base import ReplicaSpec
from scaler.runtimes.process import ProcessRuntime
from tests.control_plane.conftest import (
    ADMIN_TOKEN,
    SERVICE_TOKEN,
    make_settings,
    running,
    unique,
)
from tests.control_plane.packages import package
from tests.s3_server import S3Server
from wire import oip_grpc


async def _infer(address: str, model: str, x: list[float]) -> list[float]:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)  # type: ignore[no-untyped-call]
        response = await stub.ModelInfer(oip_grpc.encode_infer_request(model, {"x": np.array(x)}), timeout=10)
    result: list[float] = oip_grpc.decode_infer_response(response)["y"].tolist()
    return result


@pytest.fixture
async def released_in_s3(tmp_path: Path, s3_server: S3Server) -> AsyncIterator[tuple[ReplicaSpec, str]]:
    """One version released into a running control plane whose object store is the S3 server; its replica
    spec and the control plane's URL."""
    settings = make_settings(
        tmp_path / "cp",
        f"sqlite+aiosqlite:///{tmp_path}/hydro.db",
        object_store_url=f"s3://{s3_server.bucket}/catalog",
        s3_endpoint_url=s3_server.endpoint,
    )
    async with running(settings) as control_plane:
        name = unique("from-s3")
        version = await control_plane.release(name, package(name))
        described = (await control_plane.client.get(f"/api/v1/models/{name}/versions/{version}")).json()
        assert described["artifact_url"].startswith(f"s3://{s3_server.bucket}/")
        yield (
            ReplicaSpec(f"{name}:{version}", name, version, image="", artifact_url=described["artifact_url"]),
            control_plane.url,
        )


async def test_a_replica_cold_starts_from_an_s3_stored_package_through_the_control_plane(
    tmp_path: Path, released_in_s3: tuple[ReplicaSpec, str]
) -> None:
    spec, control_plane_url = released_in_s3
    runtime = ProcessRuntime(
        tmp_path / "scaler", control_plane_url=control_plane_url, service_token=SERVICE_TOKEN
    )
    replica = await runtime.start(spec)
    probe = ReadyProbe(replica.address, spec.model)
    try:
        await runtime.wait_ready(replica, probe, timeout=60)
        assert await _infer(replica.address, spec.model, [1.0, 2.5]) == [2.0, 5.0]
    finally:
        await probe.close()
        await runtime.stop(replica)
        await runtime.close()
    assert (tmp_path / "scaler/replicas" / spec.model / str(spec.version) / "hydro.json").is_file()


@pytest.mark.parametrize(
    ("token", "status", "reason"),
    [
        ("not-the-service-token", "HTTP 401", "the bearer token is not valid"),
        (ADMIN_TOKEN, "HTTP 403", "needs the service credential"),
        (None, "HTTP 401", "missing Authorization header"),
    ],
)
async def test_without_the_service_credential_the_start_fails_saying_why(
    tmp_path: Path, released_in_s3: tuple[ReplicaSpec, str], token: str | None, status: str, reason: str
) -> None:
    spec, control_plane_url = released_in_s3
    runtime = ProcessRuntime(tmp_path / "scaler", control_plane_url=control_plane_url, service_token=token)
    with pytest.raises(ArtifactError) as refused:
        await runtime.start(spec)
    await runtime.close()
    message = str(refused.value)
    assert status in message and reason in message and "HYDRO_SERVICE_TOKEN" in message
    assert not (tmp_path / "scaler/replicas" / spec.model / str(spec.version)).exists()

"""An application that requires an invoke key opens only to one of its own keys, on both transports."""

from __future__ import annotations

import hashlib

import grpc
import numpy as np
import pytest

from protos.hydro.v1 import catalog_pb2
from tests.router.harness import RouterUnderTest, StartRouter, routing_snapshot, wait_until
from wire import oip_grpc

DOUBLE_KEY = "hk_double-key-0123456789"
PIPELINE_KEY = "hk_pipeline-key-9876543210"
BODY = {"x": [1.0, 2.0]}


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def keyed_snapshot(
    revision: int = 1, *, double_keys: tuple[str, ...] = (DOUBLE_KEY,)
) -> catalog_pb2.Snapshot:
    """`double` and `pipeline` require keys (each its own); the other applications stay open."""
    snapshot = routing_snapshot(revision)
    for application in snapshot.applications:
        if application.name == "double":
            application.require_invoke_key = True
            application.invoke_key_hashes.extend(_digest(key) for key in double_keys)
        elif application.name == "pipeline":
            application.require_invoke_key = True
            application.invoke_key_hashes.append(_digest(PIPELINE_KEY))
    return snapshot


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _grpc_infer(router: RouterUnderTest, key: str | None) -> np.ndarray:
    request = oip_grpc.encode_infer_request("double", {"x": np.array([1.0, 2.0])})
    metadata = None if key is None else (("authorization", f"Bearer {key}"),)
    response = await router.inference.ModelInfer(request, metadata=metadata, timeout=30)
    return oip_grpc.decode_infer_response(response)["y"]


MISSING = "application 'double' requires an invoke key (Authorization: Bearer ...)"
INVALID = "invalid invoke key for application 'double'"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, MISSING),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, MISSING),
        ({"Authorization": "Bearer"}, MISSING),
        (_bearer("hk_wrong"), INVALID),
        (_bearer(PIPELINE_KEY), INVALID),  # another application's key
    ],
)
async def test_http_refuses_a_missing_or_wrong_key(
    start_router: StartRouter, headers: dict[str, str], message: str
) -> None:
    router = await start_router(snapshot=keyed_snapshot())

    for path, body in (
        ("/apps/double", BODY),
        (
            "/v2/models/double/infer",
            {"inputs": [{"name": "x", "datatype": "FP64", "shape": [1], "data": [1]}]},
        ),
    ):
        response = await router.http.post(path, json=body, headers=headers)
        assert response.status_code == 401, response.text
        assert response.json() == {"error": message}
        assert response.headers["www-authenticate"] == "Bearer"
    assert router.scaler.activations == {}, "a refused request must not wake the version"
    assert 'code="unauthenticated"' in await router.metrics()


async def test_http_accepts_the_right_key_and_open_applications_need_none(start_router: StartRouter) -> None:
    router = await start_router(snapshot=keyed_snapshot())

    response = await router.http.post("/apps/double", json=BODY, headers=_bearer(DOUBLE_KEY))
    assert response.status_code == 200, response.text
    assert response.json() == {"y": [2.0, 4.0]}
    piped = await router.http.post("/apps/pipeline", json=BODY, headers=_bearer(PIPELINE_KEY))
    assert piped.status_code == 200, piped.text

    # Applications without `require_invoke_key` ignore the header, and metadata stays open.
    assert (await router.http.post("/apps/strict", json=BODY)).status_code == 200
    assert (await router.http.get("/v2/models/double")).status_code == 200
    assert (await router.http.get("/v2/models/double/ready")).status_code == 200


@pytest.mark.parametrize(
    ("key", "message"), [(None, MISSING), ("hk_wrong", INVALID), (PIPELINE_KEY, INVALID)]
)
async def test_grpc_refuses_a_missing_or_wrong_key(
    start_router: StartRouter, key: str | None, message: str
) -> None:
    router = await start_router(snapshot=keyed_snapshot())

    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await _grpc_infer(router, key)
    assert failure.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert failure.value.details() == message
    assert router.scaler.activations == {}


async def test_grpc_accepts_the_right_key(start_router: StartRouter) -> None:
    router = await start_router(snapshot=keyed_snapshot())

    np.testing.assert_array_equal(await _grpc_infer(router, DOUBLE_KEY), [2.0, 4.0])


async def test_a_revoked_key_is_refused_as_soon_as_the_snapshot_drops_it(start_router: StartRouter) -> None:
    spare = "hk_spare-key-000"
    router = await start_router(snapshot=keyed_snapshot(double_keys=(DOUBLE_KEY, spare)))
    assert (await router.http.post("/apps/double", json=BODY, headers=_bearer(DOUBLE_KEY))).status_code == 200

    await router.catalog.publish(keyed_snapshot(2, double_keys=(spare,)))

    async def refused() -> bool:
        response = await router.http.post("/apps/double", json=BODY, headers=_bearer(DOUBLE_KEY))
        return response.status_code == 401

    await wait_until(refused, 2, "the revoked key to be refused")
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await _grpc_infer(router, DOUBLE_KEY)
    assert failure.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert (await router.http.post("/apps/double", json=BODY, headers=_bearer(spare))).status_code == 200
    np.testing.assert_array_equal(await _grpc_infer(router, spare), [2.0, 4.0])

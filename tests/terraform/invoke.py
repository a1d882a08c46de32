"""Calling an application through the invoke URLs Terraform's outputs give, as a client would: the plain
form (`http`), Open Inference Protocol JSON (`v2`) and Open Inference Protocol gRPC (`grpc`), each with the
invoke key as `Authorization: Bearer <key>`. The canary example's scorer answers its release name."""

from __future__ import annotations

from collections import Counter

import grpc
import httpx
import numpy as np

from protos.inference import grpc_service_pb2_grpc as pb_grpc
from wire import oip_grpc

AMOUNTS = [12.5, 480.0]


def bearer(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def via_http(url: str, key: str | None) -> httpx.Response:
    return httpx.post(url, json={"amount": AMOUNTS}, headers=bearer(key), timeout=60)


def via_v2(url: str, key: str | None) -> httpx.Response:
    body = {"inputs": [{"name": "amount", "datatype": "FP64", "shape": [len(AMOUNTS)], "data": AMOUNTS}]}
    return httpx.post(url, json=body, headers=bearer(key), timeout=60)


def releases_via_http(url: str, key: str | None) -> list[str]:
    response = via_http(url, key)
    assert response.status_code == 200, f"POST {url}: {response.status_code} {response.text}"
    return [str(r) for r in response.json()["release"]]


def releases_via_v2(url: str, key: str | None) -> list[str]:
    response = via_v2(url, key)
    assert response.status_code == 200, f"POST {url}: {response.status_code} {response.text}"
    outputs = {output["name"]: output["data"] for output in response.json()["outputs"]}
    return [str(r) for r in outputs["release"]]


def releases_via_grpc(address: str, application: str, key: str | None) -> list[str]:
    request = oip_grpc.encode_infer_request(application, {"amount": np.array(AMOUNTS)})
    metadata = (("authorization", f"Bearer {key}"),) if key else ()
    with grpc.insecure_channel(address) as channel:
        response = pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(
            request, metadata=metadata, timeout=60
        )
    release = oip_grpc.decode_infer_response(response)["release"]
    return [r.decode() if isinstance(r, bytes) else str(r) for r in release.tolist()]


def grpc_refusal(address: str, application: str, key: str | None) -> grpc.StatusCode:
    """The status code a gRPC call gets (OK if it is answered)."""
    try:
        releases_via_grpc(address, application, key)
    except grpc.RpcError as exc:
        code: grpc.StatusCode = exc.code()
        return code
    return grpc.StatusCode.OK


def split(url: str, key: str, calls: int) -> Counter[str]:
    """How many of `calls` single-row plain-form calls each release answered."""
    counts: Counter[str] = Counter()
    with httpx.Client(headers=bearer(key), timeout=60) as client:
        for _ in range(calls):
            response = client.post(url, json={"amount": [100.0]})
            assert response.status_code == 200, f"POST {url}: {response.status_code} {response.text}"
            counts[str(response.json()["release"][0])] += 1
    return counts

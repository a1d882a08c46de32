"""A caller invokes an application through the router over HTTP (OIP JSON, plain form) and gRPC.

The control plane and the scaler are stand-ins (real gRPC servers in the test, see `standins.py`); the
model replicas are real `python -m runtime` processes started on Activate.
"""

from __future__ import annotations

import numpy as np

from protos.inference import grpc_service_pb2 as pb
from tests.router.harness import StartRouter
from wire import oip_grpc


async def test_json_invoke_answers_in_oip_json_and_wakes_the_version(start_router: StartRouter) -> None:
    router = await start_router()
    body = {"id": "req-1", "inputs": [{"name": "x", "datatype": "FP64", "shape": [3], "data": [1, 2.5, -4]}]}

    response = await router.http.post("/v2/models/double/infer", json=body)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "model_name": "double",
        "id": "req-1",
        "outputs": [{"name": "y", "datatype": "FP64", "shape": [3], "data": [2.0, 5.0, -8.0]}],
    }
    assert response.headers["x-request-id"], "every answer carries the router's request id"
    assert router.scaler.activations == {"double:1": 1}


async def test_plain_invoke_takes_and_returns_named_nested_lists(start_router: StartRouter) -> None:
    router = await start_router()

    response = await router.http.post("/apps/double", json={"x": [0.5, 1, 2]})

    assert response.status_code == 200, response.text
    assert response.json() == {"y": [1.0, 2.0, 4.0]}


async def test_grpc_model_infer_through_the_router(start_router: StartRouter) -> None:
    router = await start_router()
    request = oip_grpc.encode_infer_request("double", {"x": np.array([1.0, 3.0])}, request_id="grpc-1")

    response = await router.inference.ModelInfer(request, timeout=30)

    assert response.model_name == "double"
    assert response.id == "grpc-1"
    np.testing.assert_array_equal(oip_grpc.decode_infer_response(response)["y"], [2.0, 6.0])

    # Typed contents (what many OIP clients send) work as well as raw contents.
    typed = pb.ModelInferRequest(model_name="double")
    tensor = typed.inputs.add(name="x", datatype="FP64", shape=[2])
    tensor.contents.fp64_contents.extend([10.0, 20.0])
    answer = await router.inference.ModelInfer(typed, timeout=30)
    np.testing.assert_array_equal(oip_grpc.decode_infer_response(answer)["y"], [20.0, 40.0])
    assert answer.id == "", "the answer's id echoes the request's, which had none"


async def test_warm_requests_reuse_the_replica(start_router: StartRouter) -> None:
    router = await start_router()
    for value in range(20):
        response = await router.http.post("/apps/double", json={"x": [value]})
        assert response.json() == {"y": [2.0 * value]}
    assert router.scaler.activations == {"double:1": 1}
    assert len(router.scaler.replicas) == 1


async def test_health_and_metadata_over_http(start_router: StartRouter) -> None:
    router = await start_router()

    assert (await router.http.get("/v2/health/live")).status_code == 200
    assert (await router.http.get("/v2/health/ready")).status_code == 200
    server = (await router.http.get("/v2")).json()
    assert server["name"] == "hydro-router"
    assert "version" in server and "binary_tensor_data" in server["extensions"]

    # A scale-to-zero application is ready to accept requests: asking does not wake it.
    assert (await router.http.get("/v2/models/pipeline/ready")).status_code == 200
    metadata = (await router.http.get("/v2/models/pipeline")).json()
    assert metadata == {
        "name": "pipeline",
        "versions": [],
        "platform": "hydro",
        "inputs": [{"name": "x", "datatype": "FP64", "shape": [-1]}],
        "outputs": [{"name": "z", "datatype": "FP64", "shape": [-1]}],
    }
    assert router.scaler.activations == {}


async def test_health_and_metadata_over_grpc(start_router: StartRouter) -> None:
    router = await start_router()
    stub = router.inference

    assert (await stub.ServerLive(pb.ServerLiveRequest(), timeout=5)).live
    assert (await stub.ServerReady(pb.ServerReadyRequest(), timeout=5)).ready
    assert (await stub.ServerMetadata(pb.ServerMetadataRequest(), timeout=5)).name == "hydro-router"
    assert (await stub.ModelReady(pb.ModelReadyRequest(name="pipeline"), timeout=5)).ready
    metadata = await stub.ModelMetadata(pb.ModelMetadataRequest(name="pipeline"), timeout=5)
    assert metadata.name == "pipeline"
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [("x", "FP64", [-1])]
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.outputs] == [("z", "FP64", [-1])]
    assert router.scaler.activations == {}


async def test_metrics_count_requests_holds_and_errors_per_application_and_version(
    start_router: StartRouter,
) -> None:
    router = await start_router()
    assert (await router.http.post("/apps/double", json={"x": [1]})).status_code == 200
    assert (await router.http.post("/apps/double", json={"x": [2]})).status_code == 200
    assert (await router.http.post("/apps/double", json={"nope": [2]})).status_code == 400

    text = await router.metrics()

    assert 'hydro_router_requests_total{application="double",code="ok",protocol="http"} 2.0' in text
    assert 'hydro_router_errors_total{application="double",code="invalid_input"} 1.0' in text
    assert 'hydro_router_holds_total{application="double",version="double:1"} 1.0' in text
    assert (
        'hydro_router_hold_duration_seconds_count{application="double",outcome="ok",version="double:1"} 1.0'
        in text
    )
    assert 'hydro_router_forwards_total{application="double",code="OK",version="double:1"} 2.0' in text
    assert 'hydro_router_request_duration_seconds_bucket{application="double"' in text
    assert 'hydro_router_queue_depth{version="double:1"} 0.0' in text
    assert 'hydro_router_ready_replicas{version="double:1"} 1.0' in text
    assert 'hydro_router_activations_total{version="double:1"} 1.0' in text

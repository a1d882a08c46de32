"""Bad input gets a clear 4xx (or gRPC status) naming the problem, and never wakes a version.

The control plane and the scaler are stand-ins (real gRPC servers in the test, see `standins.py`).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import grpc
import numpy as np
import orjson
import pytest

from protos.inference import grpc_service_pb2 as pb
from tests.router.harness import RouterLog, StartRouter, wait_until
from tests.router.standins import application, config, snapshot
from wire import oip_binary, oip_grpc


def _oip(
    name: str = "x", datatype: str = "FP64", shape: list[int] | None = None, data: Any = None
) -> dict[str, Any]:
    return {
        "inputs": [
            {
                "name": name,
                "datatype": datatype,
                "shape": [2] if shape is None else shape,
                "data": data or [1, 2],
            }
        ]
    }


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (_oip(name="amount"), "'amount'"),
        (_oip(datatype="INT64"), "datatype FP64"),
        (_oip(shape=[1, 2]), "expected shape [-1]"),
        (_oip(shape=[3]), "'x'"),  # data does not fill the shape
        (_oip(datatype="FLOAT"), "'FLOAT'"),
        ({"inputs": []}, "'inputs'"),
        ([1, 2, 3], "'inputs'"),
    ],
)
async def test_wrong_oip_json_gets_400_naming_the_field_and_no_activation(
    start_router: StartRouter, body: Any, named: str
) -> None:
    router = await start_router()

    response = await router.http.post("/v2/models/double/infer", json=body)

    assert response.status_code == 400, response.text
    assert named in response.json()["error"]
    assert router.scaler.activations == {}


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"amount": [1.0]}, "'amount'"),
        ({"x": [[1.0, 2.0]]}, "expected shape [-1]"),
        ({"x": ["a", "b"]}, "'x'"),
        ({"x": [[1.0], [2.0, 3.0]]}, "ragged"),
        ({}, '"x"'),
    ],
)
async def test_wrong_plain_json_gets_400_naming_the_field_and_no_activation(
    start_router: StartRouter, body: Any, named: str
) -> None:
    router = await start_router()

    response = await router.http.post("/apps/double", json=body)

    assert response.status_code == 400, response.text
    assert named in response.json()["error"]
    assert router.scaler.activations == {}


async def test_malformed_json_gets_400(start_router: StartRouter) -> None:
    router = await start_router()

    response = await router.http.post(
        "/v2/models/double/infer", content=b'{"inputs": [', headers={"content-type": "application/json"}
    )

    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]
    assert router.scaler.activations == {}


async def test_wrong_grpc_inputs_get_invalid_argument_naming_the_field_and_no_activation(
    start_router: StartRouter,
) -> None:
    router = await start_router()
    wrong_name = oip_grpc.encode_infer_request("double", {"amount": np.array([1.0])})
    wrong_dtype = oip_grpc.encode_infer_request("double", {"x": np.array([1], dtype=np.int64)})
    wrong_shape = oip_grpc.encode_infer_request("double", {"x": np.array([[1.0]])})
    short_data = pb.ModelInferRequest(model_name="double")
    short_data.inputs.add(name="x", datatype="FP64", shape=[3])
    short_data.raw_input_contents.append(np.array([1.0, 2.0]).tobytes())

    for request, named in [
        (wrong_name, "'amount'"),
        (wrong_dtype, "datatype FP64"),
        (wrong_shape, "expected shape [-1]"),
        (short_data, "'x'"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await router.inference.ModelInfer(request, timeout=10)
        assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert named in (failure.value.details() or "")
    assert router.scaler.activations == {}


async def test_an_unknown_application_gets_404_and_not_found(start_router: StartRouter) -> None:
    router = await start_router()

    infer = await router.http.post("/v2/models/nope/infer", json=_oip())
    plain = await router.http.post("/apps/nope", json={"x": [1]})
    metadata = await router.http.get("/v2/models/nope")
    ready = await router.http.get("/v2/models/nope/ready")

    for response in (infer, plain, metadata, ready):
        assert response.status_code == 404
        assert response.json() == {"error": "unknown application 'nope'"}
    for call in (
        router.inference.ModelInfer(oip_grpc.encode_infer_request("nope", {"x": np.array([1.0])}), timeout=5),
        router.inference.ModelReady(pb.ModelReadyRequest(name="nope"), timeout=5),
        router.inference.ModelMetadata(pb.ModelMetadataRequest(name="nope"), timeout=5),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await call
        assert failure.value.code() == grpc.StatusCode.NOT_FOUND
        assert "'nope'" in (failure.value.details() or "")
    assert router.scaler.activations == {}


async def test_an_oversized_body_gets_413_naming_the_limit(start_router: StartRouter) -> None:
    router = await start_router(router_max_message_bytes=10_000)
    values = list(range(5_000))

    response = await router.http.post("/apps/double", json={"x": values})
    # Without a Content-Length (chunked), the limit is enforced while reading.
    chunked = await router.http.post("/apps/double", content=_chunks([b'{"x": [', b"1," * 6_000, b"1]}"]))
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await router.inference.ModelInfer(
            oip_grpc.encode_infer_request("double", {"x": np.zeros(5_000)}), timeout=5
        )

    for answer in (response, chunked):
        assert answer.status_code == 413
        assert "10000 bytes" in answer.json()["error"]
    assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert router.scaler.activations == {}


async def test_a_replica_refusing_the_input_passes_its_invalid_argument_through(
    start_router: StartRouter,
) -> None:
    # The catalog's signature of `strict` allows any number of values; its runtime insists on two.
    router = await start_router()

    response = await router.http.post("/apps/strict", json={"x": [1.0, 2.0, 3.0]})
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await router.inference.ModelInfer(
            oip_grpc.encode_infer_request("strict", {"x": np.ones(3)}), timeout=10
        )

    assert response.status_code == 400
    assert "'x'" in response.json()["error"] and "[2]" in response.json()["error"]
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (await router.http.post("/apps/strict", json={"x": [1.0, 2.0]})).json() == {"y": [2.0, 4.0]}


async def test_a_failing_model_gets_502_with_its_message_never_a_bare_500(start_router: StartRouter) -> None:
    router = await start_router()

    response = await router.http.post("/apps/failing", json={"x": [1.0]})
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await router.inference.ModelInfer(
            oip_grpc.encode_infer_request("failing", {"x": np.ones(1)}), timeout=10
        )

    assert response.status_code == 502
    assert "failing:1" in response.json()["error"] and "boom" in response.json()["error"]
    assert failure.value.code() == grpc.StatusCode.INTERNAL
    assert "boom" in (failure.value.details() or "")


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


# -- what the fuzzer (test_fuzz_invoke.py) found, and the invoke limits ---------------------------------


def _deep(depth: int) -> str:
    return "[" * depth + "1.0" + "]" * depth


async def test_data_nested_deeper_than_its_shape_gets_400_not_a_recursion_error(
    start_router: StartRouter,
) -> None:
    # orjson reads 1000 levels; the router's flattening used to recurse as deep and fail (500).
    router = await start_router()
    oip = '{"inputs": [{"name": "x", "datatype": "FP64", "shape": [1], "data": ' + _deep(1000) + "}]}"

    nested = await router.http.post("/v2/models/double/infer", content=oip)
    plain = await router.http.post("/apps/double", content='{"x": ' + _deep(1000) + "}")
    too_deep = await router.http.post("/apps/double", content='{"x": ' + _deep(1030) + "}")

    assert nested.status_code == 400 and "nested deeper" in nested.json()["error"]
    assert plain.status_code == 400 and "nested more than 64 deep" in plain.json()["error"]
    assert too_deep.status_code == 400 and "not valid JSON" in too_deep.json()["error"]
    assert router.scaler.activations == {}


@pytest.mark.parametrize("length", ["9" * 5000, "\u00b2", "-1", "1e3"])
async def test_an_unreadable_binary_header_length_gets_400(start_router: StartRouter, length: str) -> None:
    # Python's int() refuses 5000 digits, and '²' is a digit to str.isdigit but not to int(): both were 500s.
    router = await start_router()

    response = await router.http.post(
        "/v2/models/double/infer",
        content=b'{"inputs": []}',
        headers={"Inference-Header-Content-Length": length.encode("latin-1")},
    )

    assert response.status_code == 400, response.text
    assert "Inference-Header-Content-Length" in response.json()["error"]


async def test_a_number_beyond_fp32_gets_400_not_infinity(start_router: StartRouter) -> None:
    router = await start_router()

    response = await router.http.post("/v2/models/double/infer", json=_oip(datatype="FP32", data=[1e39, 1.0]))

    assert response.status_code == 400, response.text
    assert "does not fit FP32" in response.json()["error"]


async def test_shapes_no_array_can_have_get_400_and_invalid_argument(start_router: StartRouter) -> None:
    # A zero dimension made the element count 0, and numpy then refused the other dimensions (500s).
    router = await start_router()
    bytes_body = _oip(datatype="BYTES", shape=[0, 2**62], data=[])
    bytes_body["inputs"][0]["data"] = []
    seventy_dims = pb.ModelInferRequest(model_name="double")
    seventy_dims.inputs.add(name="x", datatype="FP64", shape=[1] * 70)
    seventy_dims.raw_input_contents.append(np.zeros(1).tobytes())

    response = await router.http.post("/v2/models/double/infer", json=bytes_body)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await router.inference.ModelInfer(seventy_dims, timeout=10)

    assert response.status_code == 400 and "max_elements" in response.json()["error"]
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "70 dimensions" in (failure.value.details() or "")


async def test_each_invoke_limit_gets_400_naming_it_on_every_edge(start_router: StartRouter) -> None:
    router = await start_router(
        router_max_tensors=4, router_max_tensor_elements=100, router_max_tensor_rank=3
    )
    many = {"inputs": [{"name": f"t{i}", "datatype": "BOOL", "shape": [0], "data": []} for i in range(5)]}
    header, raw = oip_binary.encode_binary_request({"x": np.zeros(101)})
    grpc_many = oip_grpc.encode_infer_request("double", {"x": np.zeros(1)})
    for i in range(4):
        grpc_many.outputs.add(name=f"o{i}")

    cases = [
        (await router.http.post("/v2/models/double/infer", json=many), "max_tensors"),
        (await router.http.post("/v2/models/double/infer", json=_oip(shape=[101], data=[1.0] * 101)), "100"),
        (
            await router.http.post(
                "/v2/models/double/infer",
                content=orjson.dumps(header) + raw,
                headers={"Inference-Header-Content-Length": str(len(orjson.dumps(header)))},
            ),
            "max_elements",
        ),
        (await router.http.post("/apps/double", json={"x": [[[[1.0]]]]}), "max_rank"),
        (await router.http.post("/apps/double", json={"x": [1.0] * 101}), "max_elements"),
    ]
    grpc_cases = [
        (grpc_many, "max_tensors"),
        (oip_grpc.encode_infer_request("double", {"x": np.zeros(101)}), "max_elements"),
        (oip_grpc.encode_infer_request("double", {"x": np.zeros((1, 1, 1, 1))}), "max_rank"),
    ]

    for response, named in cases:
        assert response.status_code == 400, response.text
        assert named in response.json()["error"]
    for request, named in grpc_cases:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await router.inference.ModelInfer(request, timeout=10)
        assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert named in (failure.value.details() or "")
    assert router.scaler.activations == {}
    assert (await router.http.post("/apps/double", json={"x": [1.0] * 100})).status_code == 200


async def test_an_oversized_body_gets_413_even_for_an_application_not_released(
    start_router: StartRouter,
) -> None:
    # The body used to be looked at only after a variant was drawn: 503 (not released) came first.
    router = await start_router(
        snapshot=snapshot(1, [application("unreleased", [])], [], [config()]), router_max_message_bytes=1000
    )

    response = await router.http.post("/apps/unreleased", json={"x": list(range(1000))})
    small = await router.http.post("/apps/unreleased", json={"x": [1.0]})

    assert response.status_code == 413 and "1000 bytes" in response.json()["error"]
    assert small.status_code == 503


async def test_a_body_shorter_than_its_content_length_gets_408_not_a_hang(
    start_router: StartRouter, router_log: RouterLog
) -> None:
    # The slow-client guard (servicekit.slow_clients) with the router's HYDRO_HTTP_BODY_TIMEOUT_S.
    router = await start_router(http_body_timeout_s=0.5)
    with socket.create_connection(("127.0.0.1", router.settings.router_http_port), timeout=10) as client:
        client.sendall(
            b"POST /v2/models/double/infer HTTP/1.1\r\nhost: router\r\ncontent-type: application/json\r\n"
            b"x-request-id: stalled-1\r\ncontent-length: 1000\r\n\r\n" + b'{"inputs": ['
        )
        answer = await asyncio.to_thread(_read_until_closed, client)

    assert answer.startswith(b"HTTP/1.1 408 "), answer
    await wait_until(
        lambda: any(line["request_id"] == "stalled-1" for line in router_log.lines()), 5, "its line"
    )
    assert router_log.of("stalled-1")["code"] == "cancelled"  # the router saw its caller go
    assert (await router.http.post("/apps/double", json={"x": [1.0]})).json() == {"y": [2.0]}


def _read_until_closed(client: socket.socket) -> bytes:
    parts = []
    while chunk := client.recv(4096):
        parts.append(chunk)
    return b"".join(parts)

"""The binary tensor data extension: raw tensor bytes after a JSON header, read and written the way
tritonclient.http writes and reads them, and bad binary bodies refused naming the problem."""

import json
from typing import Any

import numpy as np
import pytest
import tritonclient.http as httpclient

from protos.inference import grpc_service_pb2 as pb
from tests.wire.test_tensors import SAMPLES, assert_same
from wire import datatypes, oip_binary, oip_grpc, oip_json


def _triton_input(name: str, array: np.ndarray, *, binary: bool = True) -> httpclient.InferInput:
    tensor = httpclient.InferInput(name, list(array.shape), datatypes.datatype_of(array))
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


def _split(body: bytes, header_length: int | None) -> tuple[Any, bytes | None]:
    if header_length is None:
        return json.loads(body), None
    return json.loads(body[:header_length]), body[header_length:]


def test_a_tritonclient_binary_request_decodes_to_the_same_arrays() -> None:
    inputs = [_triton_input(name, array) for name, array in SAMPLES.items()]
    body, header_length = httpclient.InferenceServerClient.generate_request_body(inputs, request_id="r7")
    assert header_length is not None, "tritonclient sends binary data with a header length"

    header, binary = _split(body, header_length)
    arrays, request_id = oip_json.decode_json_request(header, binary=binary)

    assert request_id == "r7"
    assert_same(arrays, SAMPLES)
    # tritonclient asks for every output in binary when it names none.
    wanted = oip_json.decode_json_outputs(header)
    assert wanted.names == () and wanted.is_binary("anything")


def test_binary_and_json_inputs_mix_in_one_request() -> None:
    inputs = [
        _triton_input("amount", SAMPLES["amount"], binary=False),
        _triton_input("country", SAMPLES["country"]),
        _triton_input("count", SAMPLES["count"], binary=False),
    ]
    outputs = [httpclient.InferRequestedOutput("y", binary_data=False), httpclient.InferRequestedOutput("z")]
    body, header_length = httpclient.InferenceServerClient.generate_request_body(inputs, outputs=outputs)

    header, binary = _split(body, header_length)
    arrays, _ = oip_json.decode_json_request(header, binary=binary)

    assert_same(arrays, {name: SAMPLES[name] for name in ("amount", "country", "count")})
    wanted = oip_json.decode_json_outputs(header)
    assert wanted.names == ("y", "z")
    assert not wanted.is_binary("y") and wanted.is_binary("z")


def test_own_binary_request_round_trips() -> None:
    header, binary = oip_binary.encode_binary_request(SAMPLES, request_id="abc")
    arrays, request_id = oip_json.decode_json_request(header, binary=binary)
    assert request_id == "abc"
    assert_same(arrays, SAMPLES)


def test_a_binary_answer_reads_back_through_tritonclient() -> None:
    binary = {"amount", "country", "half"}
    header, data = oip_binary.encode_binary_response(
        "app", SAMPLES, binary, request_id="r1", model_version="2"
    )
    head = json.dumps(header).encode()

    result = httpclient.InferenceServerClient.parse_response_body(head + data, header_length=len(head))

    response = result.get_response()
    assert response["model_name"] == "app" and response["id"] == "r1" and response["model_version"] == "2"
    for output in response["outputs"]:
        assert ("data" in output) == (output["name"] not in binary), output
    for name, array in SAMPLES.items():
        got = result.as_numpy(name)
        assert got is not None, name
        assert got.shape == array.shape, name
        if array.dtype == object:
            assert [bytes(v) for v in got.reshape(-1)] == list(array.reshape(-1)), name
        else:
            assert got.tolist() == array.tolist(), name


def test_a_json_only_answer_is_the_plain_json_response() -> None:
    header, data = oip_binary.encode_binary_response("app", SAMPLES, (), request_id="r1")
    assert data == b""
    assert header == oip_json.encode_json_response("app", SAMPLES, request_id="r1")


def _binary_body(size: Any, **extra: Any) -> dict[str, Any]:
    tensor = {"name": "x", "datatype": "FP64", "shape": [2], "parameters": {"binary_data_size": size}}
    return {"inputs": [dict(tensor, **extra)]}


TWO = np.array([1.0, 2.0]).tobytes()


@pytest.mark.parametrize(
    ("body", "binary", "message"),
    [
        (_binary_body(16), None, "'x' has parameters.binary_data_size but .*Inference-Header-Content-Length"),
        (_binary_body(24), TWO, "'x': binary_data_size 24 runs past the end .*16 bytes left"),
        (_binary_body(8), TWO, "'x': raw data has 8 bytes, shape \\[2\\] of FP64 needs 16"),
        (_binary_body(16), TWO + b"\x00", "17 bytes of binary data .* add up to 16"),
        (_binary_body(-1), TWO, "'x': parameters.binary_data_size must be a non-negative integer"),
        (_binary_body("16"), TWO, "'x': parameters.binary_data_size must be a non-negative integer"),
        (_binary_body(16, data=[1, 2]), TWO, "'x': give either 'data' or parameters.binary_data_size"),
        (
            {"inputs": [{"name": "x", "datatype": "FP64", "shape": [2], "data": [1, 2]}]},
            TWO,
            "16 bytes of binary data .* add up to 0",
        ),
        (
            {
                "inputs": [
                    {"name": "s", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 6}}
                ]
            },
            b"\x05\x00\x00\x00ab",
            "'s': raw BYTES element runs past the end",
        ),
        (
            {"inputs": [{"name": "x", "datatype": "FP64", "shape": [1], "parameters": [16]}]},
            TWO,
            "'x': 'parameters' must be an object",
        ),
    ],
)
def test_bad_binary_requests_name_the_problem(body: Any, binary: bytes | None, message: str) -> None:
    with pytest.raises(datatypes.TensorError, match=message):
        oip_json.decode_json_request(body, binary=binary)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"inputs": [], "outputs": "y"}, "'outputs' must be a list"),
        ({"inputs": [], "outputs": [{"name": ""}]}, "outputs\\[0\\].name must be a non-empty string"),
        ({"inputs": [], "outputs": [{"name": "y"}, {"name": "y"}]}, "output 'y' is asked for twice"),
        (
            {"inputs": [], "outputs": [{"name": "y", "parameters": {"binary_data": "yes"}}]},
            "output 'y': parameters.binary_data must be true or false",
        ),
        ({"inputs": [], "parameters": {"binary_data_output": 1}}, "binary_data_output must be true or false"),
    ],
)
def test_bad_requested_outputs_name_the_problem(body: Any, message: str) -> None:
    with pytest.raises(datatypes.TensorError, match=message):
        oip_json.decode_json_outputs(body)


def test_shared_memory_is_refused_naming_the_tensor() -> None:
    json_body = {
        "inputs": [
            {"name": "x", "datatype": "FP64", "shape": [2], "parameters": {"shared_memory_region": "r0"}}
        ]
    }
    grpc_request = pb.ModelInferRequest(model_name="m")
    grpc_request.inputs.add(name="x", datatype="FP64", shape=[2]).parameters[
        "shared_memory_region"
    ].string_param = "r0"

    with pytest.raises(datatypes.TensorError, match="'x': shared memory .* is not supported"):
        oip_json.decode_json_request(json_body)
    with pytest.raises(datatypes.TensorError, match="'x': shared memory .* is not supported"):
        oip_grpc.decode_infer_request(grpc_request)

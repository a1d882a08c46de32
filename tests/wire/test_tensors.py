"""Tensors survive every wire form unchanged, and bad tensor data is refused naming the problem."""

import numpy as np
import pytest

from protos.inference import grpc_service_pb2 as pb
from wire import datatypes, oip_grpc, oip_json, plain_form
from wire.signature import Signature

SAMPLES = {
    "amount": np.array([1.5, -2.25, 3.0]),
    "count": np.array([[1, 2], [3, 4]], dtype=np.int64),
    "flag": np.array([True, False]),
    "small": np.array([1, 2, 3], dtype=np.uint8),
    "half": np.array([0.5, 1.5], dtype=np.float16),
    "country": np.array([b"DE", b"FR", "\u00fcber".encode()], dtype=object),
}


def assert_same(left: dict[str, np.ndarray], right: dict[str, np.ndarray]) -> None:
    assert left.keys() == right.keys()
    for name in left:
        assert left[name].dtype == right[name].dtype, name
        assert left[name].shape == right[name].shape, name
        assert left[name].tolist() == right[name].tolist(), name


def test_raw_grpc_round_trip_keeps_every_datatype() -> None:
    request = oip_grpc.encode_infer_request("m", SAMPLES, request_id="r1")
    wire = pb.ModelInferRequest.FromString(request.SerializeToString())
    assert wire.id == "r1"
    assert_same(oip_grpc.decode_infer_request(wire), SAMPLES)
    response = oip_grpc.encode_infer_response("m", SAMPLES, model_version="3")
    assert_same(oip_grpc.decode_infer_response(response), SAMPLES)


def test_typed_contents_are_decoded() -> None:
    request = pb.ModelInferRequest(model_name="m")
    request.inputs.add(
        name="x", datatype="FP32", shape=[2], contents=pb.InferTensorContents(fp32_contents=[1, 2])
    )
    request.inputs.add(
        name="s", datatype="BYTES", shape=[1], contents=pb.InferTensorContents(bytes_contents=[b"a"])
    )
    arrays = oip_grpc.decode_infer_request(request)
    assert arrays["x"].dtype == np.float32 and arrays["x"].tolist() == [1.0, 2.0]
    assert arrays["s"].tolist() == [b"a"]


def test_raw_data_that_does_not_match_the_shape_is_refused() -> None:
    request = pb.ModelInferRequest(model_name="m", raw_input_contents=[b"\x00" * 12])
    request.inputs.add(name="x", datatype="FP64", shape=[2])
    with pytest.raises(datatypes.TensorError, match="'x'.*12 bytes.*needs 16"):
        oip_grpc.decode_infer_request(request)


def test_json_request_and_response() -> None:
    body = {
        "id": "abc",
        "inputs": [
            {"name": "x", "datatype": "FP64", "shape": [2, 2], "data": [[1, 2], [3, 4]]},
            {"name": "c", "datatype": "BYTES", "shape": [1], "data": ["DE"]},
        ],
    }
    arrays, request_id = oip_json.decode_json_request(body)
    assert request_id == "abc"
    assert arrays["x"].shape == (2, 2) and arrays["x"].dtype == np.float64
    out = oip_json.encode_json_response("app", arrays, request_id="abc")
    assert out["outputs"][1] == {"name": "c", "datatype": "BYTES", "shape": [1], "data": ["DE"]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "JSON object"),
        ({"inputs": []}, "non-empty 'inputs'"),
        (
            {"inputs": [{"name": "x", "datatype": "FLOAT", "shape": [1], "data": [1]}]},
            "'x': datatype 'FLOAT'",
        ),
        (
            {"inputs": [{"name": "x", "datatype": "FP64", "shape": [3], "data": [1, 2]}]},
            "'x': 2 values given",
        ),
        ({"inputs": [{"name": "x", "datatype": "INT64", "shape": [1], "data": [1.5]}]}, "whole numbers"),
        ({"inputs": [{"name": "x", "datatype": "FP64", "shape": [1], "data": ["a"]}]}, "must be numbers"),
        ({"inputs": [{"name": "x", "datatype": "FP64", "shape": "1", "data": [1]}]}, "shape must be a list"),
    ],
)
def test_bad_json_requests_name_the_problem(body: object, message: str) -> None:
    with pytest.raises(datatypes.TensorError, match=message):
        oip_json.decode_json_request(body)


def test_plain_form_takes_datatypes_from_the_signature() -> None:
    signature = Signature.from_dict(
        {
            "inputs": [
                {"name": "amount", "datatype": "FP64", "shape": [-1]},
                {"name": "country", "datatype": "BYTES", "shape": [-1]},
            ],
            "outputs": [{"name": "score", "datatype": "FP64", "shape": [-1]}],
        }
    )
    arrays = plain_form.decode_plain_request({"amount": [1, 2], "country": ["DE", "FR"]}, signature)
    assert arrays["amount"].dtype == np.float64
    assert arrays["country"].tolist() == [b"DE", b"FR"]
    assert plain_form.encode_plain_response(arrays) == {"amount": [1.0, 2.0], "country": ["DE", "FR"]}
    with pytest.raises(datatypes.TensorError, match="unexpected input 'amt'"):
        plain_form.decode_plain_request({"amt": [1]}, signature)
    with pytest.raises(datatypes.TensorError, match="ragged"):
        plain_form.decode_plain_request({"amount": [[1, 2], [3]]}, signature)

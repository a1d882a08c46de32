"""The invoke limits (`wire.limits`) and the shapes no array can have, told before any array is built."""

from __future__ import annotations

import re

import numpy as np
import pytest

from protos.inference import grpc_service_pb2 as pb
from wire import oip_grpc, oip_json
from wire.datatypes import TensorError, element_count
from wire.limits import LimitError, TensorLimits
from wire.signature import Signature

LIMITS = TensorLimits(max_tensors=3, max_elements=100, max_rank=4)


def test_tensors_elements_and_rank_within_the_limits_pass_and_are_counted() -> None:
    LIMITS.check_count(3)
    total = LIMITS.add("a", [10, 5], 0)
    assert LIMITS.add("b", [2, 0, 7], total) == 50
    assert LIMITS.add("c", [1, 1, 1, 50], 50) == 100


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda: LIMITS.check_count(4), "at most 3 are accepted (max_tensors)"),
        (lambda: LIMITS.add("a", [101], 0), "more than 100 elements"),
        (lambda: LIMITS.add("a", [60], 50), "max_elements"),
        (lambda: LIMITS.add("a", [1] * 5, 0), "5 dimensions; at most 4"),
        # No element, yet numpy could not build it: a zero does not hide the other dimensions.
        (lambda: LIMITS.add("a", [0, 2**62], 0), "max_elements"),
        (lambda: LIMITS.add("a", [2**40, 2**40, 2**40, 0], 0), "max_elements"),
    ],
)
def test_more_than_a_limit_is_refused_naming_it(call: object, named: str) -> None:
    with pytest.raises(LimitError, match=re.escape(named)):
        call()  # type: ignore[operator]


def test_a_negative_dimension_is_no_limit_but_still_refused() -> None:
    with pytest.raises(TensorError, match="negative") as failure:
        LIMITS.add("a", [2, -1], 0)
    assert not isinstance(failure.value, LimitError)


def test_a_shape_no_array_can_have_is_refused_without_limits_too() -> None:
    with pytest.raises(TensorError, match="70 dimensions"):
        element_count([1] * 70, "x")
    with pytest.raises(TensorError, match="larger than any array"):
        element_count([0, 2**62, 2**62], "x")
    assert element_count([0, 2**20], "x") == 0


def test_a_json_request_is_checked_before_its_arrays_are_built() -> None:
    body = {"inputs": [{"name": "x", "datatype": "FP64", "shape": [10**12], "data": [1.0]}]}
    with pytest.raises(LimitError, match="max_elements"):
        oip_json.decode_json_request(body, limits=LIMITS)
    outputs = {"inputs": body["inputs"], "outputs": [{"name": n} for n in "abc"]}
    with pytest.raises(LimitError, match="max_tensors"):
        oip_json.decode_json_request(outputs, limits=LIMITS)


def test_json_data_nested_deeper_than_its_shape_is_refused() -> None:
    deep: list[object] = [1.0]
    for _ in range(2000):
        deep = [deep]
    body = {"inputs": [{"name": "x", "datatype": "FP64", "shape": [1], "data": deep}]}
    with pytest.raises(TensorError, match="nested deeper"):
        oip_json.decode_json_request(body)
    nested = {"inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 2], "data": [[1.0, 2.0]]}]}
    assert oip_json.decode_json_request(nested)[0]["x"].tolist() == [[1.0, 2.0]]


@pytest.mark.parametrize(("datatype", "value"), [("FP32", 1e39), ("FP16", 70000.0)])
def test_a_json_number_beyond_a_narrow_float_is_refused_not_infinity(datatype: str, value: float) -> None:
    body = {"inputs": [{"name": "x", "datatype": datatype, "shape": [1], "data": [value]}]}
    with pytest.raises(TensorError, match=f"does not fit {datatype}"):
        oip_json.decode_json_request(body)


@pytest.mark.parametrize(
    ("datatype", "field", "value"), [("INT8", "int_contents", 300), ("UINT16", "uint_contents", 70000)]
)
def test_grpc_contents_beyond_a_narrow_integer_are_refused_not_wrapped(
    datatype: str, field: str, value: int
) -> None:
    request = pb.ModelInferRequest()
    tensor = request.inputs.add(name="x", datatype=datatype, shape=[2])
    getattr(tensor.contents, field).extend([1, value])
    with pytest.raises(TensorError, match=f"beyond the range of {datatype}"):
        oip_grpc.decode_infer_request(request)
    getattr(tensor.contents, field)[1] = 2
    assert oip_grpc.decode_infer_request(request)["x"].tolist() == [1, 2]


def test_a_grpc_message_is_checked_from_its_fields() -> None:
    request = oip_grpc.encode_infer_request("m", {"x": np.zeros(101)})
    with pytest.raises(LimitError, match="max_elements"):
        oip_grpc.check_limits(request, LIMITS)
    oip_grpc.check_limits(oip_grpc.encode_infer_request("m", {"x": np.zeros(100)}), LIMITS)


def test_a_message_that_fits_its_signature_but_not_the_limits_does_not_fit() -> None:
    # The router's fast path: `fits` checks the limits in the loop it runs anyway.
    signature = Signature.from_dict(
        {
            "inputs": [{"name": "x", "datatype": "FP64", "shape": [-1, -1]}],
            "outputs": [{"name": "y", "datatype": "FP64", "shape": [-1]}],
        }
    )
    within = oip_grpc.encode_infer_request("m", {"x": np.zeros((10, 10))})
    zero_size = oip_grpc.encode_infer_request("m", {"x": np.zeros((0, 10))})
    zero_size.inputs[0].shape[1] = 2**40  # no elements, but numpy can build it
    asking = oip_grpc.encode_infer_request("m", {"x": np.zeros((1, 1))})
    for name in "abc":
        asking.outputs.add(name=name)

    assert oip_grpc.fits(within, signature, LIMITS) and oip_grpc.fits(zero_size, signature)
    assert not oip_grpc.fits(oip_grpc.encode_infer_request("m", {"x": np.zeros((10, 11))}), signature, LIMITS)
    assert not oip_grpc.fits(zero_size, signature, LIMITS)
    assert not oip_grpc.fits(asking, signature, LIMITS)

"""`oip_grpc.fits` tells from the message alone that a request decodes into what a signature takes.

It may say "not sure" (False) about a good request, never "fits" (True) about a bad one: the router
skips decoding the requests it says fit.
"""

from collections.abc import Callable

import numpy as np
import pytest

from protos.inference import grpc_service_pb2 as pb
from wire import datatypes, oip_grpc
from wire.signature import Signature, SignatureError

SIGNATURE = Signature.from_dict(
    {
        "inputs": [
            {"name": "x", "datatype": "FP32", "shape": [-1, 3]},
            {"name": "n", "datatype": "INT64", "shape": [2]},
            {"name": "s", "datatype": "BYTES", "shape": [-1]},
        ],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1]}],
    }
)
GOOD: dict[str, np.ndarray] = {
    "x": np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32),
    "n": np.array([7, 8], dtype=np.int64),
    "s": np.array([b"a", b"bc"], dtype=object),
}


def typed(arrays: dict[str, np.ndarray]) -> pb.ModelInferRequest:
    """`arrays` in typed contents (the form oip_grpc.encode_infer_request does not use)."""
    request = pb.ModelInferRequest(model_name="m")
    for name, array in arrays.items():
        datatype = datatypes.datatype_of(array)
        tensor = request.inputs.add(name=name, datatype=datatype, shape=array.shape)
        field = {"FP32": "fp32_contents", "INT64": "int64_contents", "BYTES": "bytes_contents"}[datatype]
        getattr(tensor.contents, field).extend(array.reshape(-1).tolist())
    return request


def decodes_and_fits(request: pb.ModelInferRequest) -> bool:
    try:
        SIGNATURE.check_inputs(oip_grpc.decode_infer_request(request))
    except (datatypes.TensorError, SignatureError):
        return False
    return True


def test_well_formed_requests_fit_in_typed_contents_and_raw_ones_without_bytes() -> None:
    assert oip_grpc.fits(typed(GOOD), SIGNATURE)
    raw = oip_grpc.encode_infer_request("m", {k: v for k, v in GOOD.items() if k != "s"})
    numeric = Signature(inputs=SIGNATURE.inputs[:2], outputs=SIGNATURE.outputs)
    assert oip_grpc.fits(raw, numeric)
    # Raw BYTES are left to the decoder.
    assert not oip_grpc.fits(oip_grpc.encode_infer_request("m", GOOD), SIGNATURE)
    assert decodes_and_fits(oip_grpc.encode_infer_request("m", GOOD))


def _drop_input(r: pb.ModelInferRequest) -> None:
    del r.inputs[1]


def _extra_input(r: pb.ModelInferRequest) -> None:
    r.inputs.add(name="z", datatype="FP32", shape=[1]).contents.fp32_contents.append(1)


def _shared_memory(r: pb.ModelInferRequest) -> None:
    r.inputs[0].parameters["shared_memory_region"].string_param = "region"


def _set_shape(index: int, shape: list[int]) -> Callable[[pb.ModelInferRequest], None]:
    def change(r: pb.ModelInferRequest) -> None:
        del r.inputs[index].shape[:]
        r.inputs[index].shape.extend(shape)

    return change


BREAKAGES: dict[str, Callable[[pb.ModelInferRequest], None]] = {
    "missing input": _drop_input,
    "extra input": _extra_input,
    "renamed": lambda r: setattr(r.inputs[0], "name", "w"),
    "twice": lambda r: setattr(r.inputs[1], "name", "x"),
    "datatype": lambda r: setattr(r.inputs[0], "datatype", "FP64"),
    "unknown datatype": lambda r: setattr(r.inputs[0], "datatype", "FP33"),
    "rank": _set_shape(0, [6]),
    "fixed axis": _set_shape(0, [3, 2]),
    "negative axis": _set_shape(2, [-2]),
    "too few values": lambda r: r.inputs[0].contents.fp32_contents.pop(),
    "no values": lambda r: r.inputs[0].contents.ClearField("fp32_contents"),
    "shared memory": _shared_memory,
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_a_request_that_does_not_decode_into_the_signature_never_fits(breakage: str) -> None:
    request = typed(GOOD)
    BREAKAGES[breakage](request)
    assert not decodes_and_fits(request)
    assert not oip_grpc.fits(request, SIGNATURE)


def test_raw_contents_of_the_wrong_length_or_count_never_fit() -> None:
    numeric = Signature(inputs=SIGNATURE.inputs[:2], outputs=SIGNATURE.outputs)
    request = oip_grpc.encode_infer_request("m", {k: v for k, v in GOOD.items() if k != "s"})
    request.raw_input_contents[0] = request.raw_input_contents[0][:-4]
    assert not oip_grpc.fits(request, numeric)
    request = oip_grpc.encode_infer_request("m", {k: v for k, v in GOOD.items() if k != "s"})
    del request.raw_input_contents[1]
    assert not oip_grpc.fits(request, numeric)


def test_narrow_integers_are_left_to_the_decoder() -> None:
    signature = Signature.from_dict(
        {
            "inputs": [{"name": "b", "datatype": "UINT8", "shape": [1]}],
            "outputs": [{"name": "y", "datatype": "FP32", "shape": [1]}],
        }
    )
    request = pb.ModelInferRequest(model_name="m")
    request.inputs.add(name="b", datatype="UINT8", shape=[1]).contents.uint_contents.append(300)
    assert not oip_grpc.fits(request, signature)

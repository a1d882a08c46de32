"""Open Inference Protocol gRPC messages <-> numpy arrays (`inference.ModelInferRequest` / `Response`).

Tensors go out as raw contents (`wire.raw_contents`); they come in as raw or typed contents.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from protos.inference import grpc_service_pb2 as pb
from wire.datatypes import (
    MAX_RANK,
    NUMPY_DTYPES,
    TensorError,
    bytes_array,
    datatype_of,
    element_count,
    numpy_dtype,
)
from wire.limits import TensorLimits
from wire.raw_contents import SHARED_MEMORY, from_raw, to_raw
from wire.signature import Signature

# Which typed-contents field carries each datatype (FP16 travels only as raw contents).
_CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


# -- typed contents -------------------------------------------------------------------------------


def _from_contents(
    contents: pb.InferTensorContents, datatype: str, shape: tuple[int, ...], name: str
) -> np.ndarray:
    field = _CONTENTS_FIELD.get(datatype)
    if field is None:
        raise TensorError(f"tensor '{name}': datatype {datatype} must be sent as raw contents")
    values = getattr(contents, field)
    count = element_count(shape, name)
    if len(values) != count:
        raise TensorError(f"tensor '{name}': {len(values)} values given, shape {list(shape)} needs {count}")
    if datatype == "BYTES":
        return bytes_array(list(values), shape)
    dtype = NUMPY_DTYPES[datatype]
    if field not in ("int_contents", "uint_contents") or dtype.itemsize == 4:
        return np.array(values, dtype=dtype).reshape(shape)
    # INT8/16 and UINT8/16 travel in 32-bit fields, and numpy would wrap a value beyond their range.
    wide = np.array(values, dtype=np.int64)
    limits = np.iinfo(dtype)
    if wide.size and (wide.min() < limits.min or wide.max() > limits.max):
        raise TensorError(f"tensor '{name}': {field} hold values beyond the range of {datatype}")
    return wide.astype(dtype).reshape(shape)


# -- gRPC -----------------------------------------------------------------------------------------


def _decode_tensors(tensors: Any, raw_contents: Any, what: str) -> dict[str, np.ndarray]:
    if raw_contents and len(raw_contents) != len(tensors):
        raise TensorError(f"{what}: {len(raw_contents)} raw contents for {len(tensors)} tensors")
    arrays: dict[str, np.ndarray] = {}
    for i, tensor in enumerate(tensors):
        name = tensor.name
        if not name:
            raise TensorError(f"{what}: tensor #{i} has no name")
        if name in arrays:
            raise TensorError(f"{what}: tensor '{name}' is given twice")
        numpy_dtype(tensor.datatype)
        if SHARED_MEMORY in tensor.parameters:
            raise TensorError(f"tensor '{name}': shared memory ({SHARED_MEMORY}) is not supported")
        shape = tuple(int(d) for d in tensor.shape)
        if raw_contents:
            arrays[name] = from_raw(raw_contents[i], tensor.datatype, shape, name)
        else:
            arrays[name] = _from_contents(tensor.contents, tensor.datatype, shape, name)
    return arrays


def decode_infer_request(request: pb.ModelInferRequest) -> dict[str, np.ndarray]:
    return _decode_tensors(request.inputs, request.raw_input_contents, "request")


_NO_LIMITS = TensorLimits(max_tensors=1 << 62, max_elements=1 << 48, max_rank=MAX_RANK)


def check_limits(request: pb.ModelInferRequest, limits: TensorLimits) -> None:
    """Raise LimitError if `request` asks for more than `limits` allow: told from the message (O(tensors)),
    before anything is decoded or forwarded."""
    limits.check_count(len(request.inputs) + len(request.outputs))
    total = 0
    for tensor in request.inputs:
        total = limits.add(tensor.name, tensor.shape, total)


# Datatypes whose typed contents field holds exactly their values (the narrower integers travel in
# wider fields, and a value out of their range fails only when decoded).
_EXACT_CONTENTS = frozenset({"BOOL", "INT32", "INT64", "UINT32", "UINT64", "FP32", "FP64", "BYTES"})


def fits(request: pb.ModelInferRequest, signature: Signature, limits: TensorLimits | None = None) -> bool:
    """Whether `request`'s inputs decode (`decode_infer_request`) into arrays that `signature` takes,
    and keep within `limits` (`check_limits`), told from the message alone, without building the arrays
    (a router forwards the message as is).

    False means only "not sure": check the limits, decode and check to find out what is wrong. BYTES and
    FP16 raw contents and the narrow integers are always left to that. The limits cost next to nothing
    here: the loop multiplies out the shapes anyway.
    """
    inputs = request.inputs
    specs = signature.inputs
    if len(inputs) != len(specs):
        return False
    if limits is None:
        limits = _NO_LIMITS
    elif len(inputs) + len(request.outputs) > limits.max_tensors:
        return False
    max_rank, max_elements = limits.max_rank, limits.max_elements
    total = 0
    raw = request.raw_input_contents
    if raw and len(raw) != len(inputs):
        return False
    seen: set[str] = set()
    for i, tensor in enumerate(inputs):
        name = tensor.name
        spec = next((spec for spec in specs if spec.name == name), None)
        if spec is None or name in seen:
            return False
        seen.add(name)
        datatype = tensor.datatype
        shape = tensor.shape
        if datatype != spec.datatype or len(shape) != len(spec.shape) or len(shape) > max_rank:
            return False
        count = span = 1
        for want, have in zip(spec.shape, shape, strict=True):
            if have < 0 or (want != -1 and want != have):
                return False
            count *= have
            span *= have or 1
        total += count
        if span > max_elements or total > max_elements:
            return False
        if SHARED_MEMORY in tensor.parameters:
            return False
        if raw:
            if datatype == "BYTES" or len(raw[i]) != count * NUMPY_DTYPES[datatype].itemsize:
                return False
        elif (
            datatype not in _EXACT_CONTENTS
            or len(getattr(tensor.contents, _CONTENTS_FIELD[datatype])) != count
        ):
            return False
    return True


def decode_infer_response(response: pb.ModelInferResponse) -> dict[str, np.ndarray]:
    return _decode_tensors(response.outputs, response.raw_output_contents, "response")


def encode_infer_request(
    model_name: str, arrays: Mapping[str, np.ndarray], *, request_id: str = "", model_version: str = ""
) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=model_name, model_version=model_version, id=request_id)
    for name, array in arrays.items():
        datatype = datatype_of(array)
        request.inputs.add(name=name, datatype=datatype, shape=array.shape)
        request.raw_input_contents.append(to_raw(array, datatype))
    return request


def encode_infer_response(
    model_name: str, arrays: Mapping[str, np.ndarray], *, request_id: str = "", model_version: str = ""
) -> pb.ModelInferResponse:
    response = pb.ModelInferResponse(model_name=model_name, model_version=model_version, id=request_id)
    for name, array in arrays.items():
        datatype = datatype_of(array)
        response.outputs.add(name=name, datatype=datatype, shape=array.shape)
        response.raw_output_contents.append(to_raw(array, datatype))
    return response

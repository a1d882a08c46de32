"""Tensor codecs: Open Inference Protocol gRPC and JSON <-> numpy, and Hydro's plain JSON form.

Arrays of datatype BYTES are numpy object arrays holding `bytes`. Raw contents follow the
protocol: fixed-size elements little-endian and packed; each BYTES element is a 4-byte
little-endian length followed by its bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

from protos.inference import grpc_service_pb2 as pb
from protos.signature import Signature

_DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(object),
}

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


class TensorError(ValueError):
    """Tensor data that cannot be decoded or encoded. The message names the tensor and the problem."""


def numpy_dtype(datatype: str) -> np.dtype[Any]:
    try:
        return _DTYPES[datatype]
    except KeyError:
        raise TensorError(f"unknown datatype {datatype!r}; expected one of {', '.join(_DTYPES)}") from None


def datatype_of(array: np.ndarray) -> str:
    kind, size = array.dtype.kind, array.dtype.itemsize
    if kind == "b":
        return "BOOL"
    if kind in "iu" and size in (1, 2, 4, 8):
        return f"{'INT' if kind == 'i' else 'UINT'}{size * 8}"
    if kind == "f" and size in (2, 4, 8):
        return f"FP{size * 8}"
    if kind in "OSU":
        return "BYTES"
    raise TensorError(f"numpy dtype {array.dtype} has no Open Inference Protocol datatype")


def _element_count(shape: list[int] | tuple[int, ...], name: str) -> int:
    count = 1
    for dim in shape:
        if dim < 0:
            raise TensorError(f"tensor '{name}': shape {list(shape)} has a negative dimension")
        count *= dim
    return count


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, np.bytes_ | bytearray | memoryview):
        return bytes(value)
    return str(value).encode("utf-8")


def _bytes_array(values: Any, shape: tuple[int, ...]) -> np.ndarray:
    flat = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        flat[i] = _as_bytes(value)
    return flat.reshape(shape)


# -- raw contents ---------------------------------------------------------------------------------


def _to_raw(array: np.ndarray, datatype: str) -> bytes:
    if datatype != "BYTES":
        return np.ascontiguousarray(array, dtype=_DTYPES[datatype]).tobytes()
    parts: list[bytes] = []
    for item in array.reshape(-1):
        data = _as_bytes(item)
        parts.append(struct.pack("<I", len(data)))
        parts.append(data)
    return b"".join(parts)


def _from_raw(raw: bytes, datatype: str, shape: tuple[int, ...], name: str) -> np.ndarray:
    count = _element_count(shape, name)
    if datatype != "BYTES":
        dtype = numpy_dtype(datatype)
        if len(raw) != count * dtype.itemsize:
            raise TensorError(
                f"tensor '{name}': raw data has {len(raw)} bytes, shape {list(shape)} of {datatype} "
                f"needs {count * dtype.itemsize}"
            )
        return np.frombuffer(raw, dtype=dtype).reshape(shape)
    values: list[bytes] = []
    offset = 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise TensorError(f"tensor '{name}': raw BYTES data ends inside a length prefix")
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + length > len(raw):
            raise TensorError(f"tensor '{name}': raw BYTES element runs past the end of the data")
        values.append(raw[offset : offset + length])
        offset += length
    if len(values) != count:
        raise TensorError(
            f"tensor '{name}': raw data holds {len(values)} BYTES elements, shape {list(shape)} needs {count}"
        )
    return _bytes_array(values, shape)


# -- typed contents -------------------------------------------------------------------------------


def _from_contents(
    contents: pb.InferTensorContents, datatype: str, shape: tuple[int, ...], name: str
) -> np.ndarray:
    field = _CONTENTS_FIELD.get(datatype)
    if field is None:
        raise TensorError(f"tensor '{name}': datatype {datatype} must be sent as raw contents")
    values = getattr(contents, field)
    count = _element_count(shape, name)
    if len(values) != count:
        raise TensorError(f"tensor '{name}': {len(values)} values given, shape {list(shape)} needs {count}")
    if datatype == "BYTES":
        return _bytes_array(list(values), shape)
    return np.array(values, dtype=_DTYPES[datatype]).reshape(shape)


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
        shape = tuple(int(d) for d in tensor.shape)
        if raw_contents:
            arrays[name] = _from_raw(raw_contents[i], tensor.datatype, shape, name)
        else:
            arrays[name] = _from_contents(tensor.contents, tensor.datatype, shape, name)
    return arrays


def decode_infer_request(request: pb.ModelInferRequest) -> dict[str, np.ndarray]:
    return _decode_tensors(request.inputs, request.raw_input_contents, "request")


def decode_infer_response(response: pb.ModelInferResponse) -> dict[str, np.ndarray]:
    return _decode_tensors(response.outputs, response.raw_output_contents, "response")


def encode_infer_request(
    model_name: str, arrays: Mapping[str, np.ndarray], *, request_id: str = "", model_version: str = ""
) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=model_name, model_version=model_version, id=request_id)
    for name, array in arrays.items():
        datatype = datatype_of(array)
        request.inputs.add(name=name, datatype=datatype, shape=array.shape)
        request.raw_input_contents.append(_to_raw(array, datatype))
    return request


def encode_infer_response(
    model_name: str, arrays: Mapping[str, np.ndarray], *, request_id: str = "", model_version: str = ""
) -> pb.ModelInferResponse:
    response = pb.ModelInferResponse(model_name=model_name, model_version=model_version, id=request_id)
    for name, array in arrays.items():
        datatype = datatype_of(array)
        response.outputs.add(name=name, datatype=datatype, shape=array.shape)
        response.raw_output_contents.append(_to_raw(array, datatype))
    return response


# -- Open Inference Protocol JSON -----------------------------------------------------------------


def _flatten(data: Any) -> list[Any]:
    if isinstance(data, list):
        out: list[Any] = []
        for item in data:
            out.extend(_flatten(item))
        return out
    return [data]


def _json_array(name: str, datatype: str, shape: tuple[int, ...], data: Any) -> np.ndarray:
    values = _flatten(data)
    count = _element_count(shape, name)
    if len(values) != count:
        raise TensorError(f"input '{name}': {len(values)} values given, shape {list(shape)} needs {count}")
    if datatype == "BYTES":
        if not all(isinstance(v, str) for v in values):
            raise TensorError(f"input '{name}': BYTES data must be strings")
        return _bytes_array(values, shape)
    dtype = _DTYPES[datatype]
    if datatype == "BOOL":
        if not all(isinstance(v, bool) for v in values):
            raise TensorError(f"input '{name}': BOOL data must be true or false")
    elif not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise TensorError(f"input '{name}': {datatype} data must be numbers")
    elif dtype.kind in "iu" and not all(isinstance(v, int) or float(v).is_integer() for v in values):
        raise TensorError(f"input '{name}': {datatype} data must be whole numbers")
    try:
        return np.array(values, dtype=dtype).reshape(shape)
    except (OverflowError, ValueError) as exc:
        raise TensorError(f"input '{name}': data does not fit {datatype}: {exc}") from None


def decode_json_request(body: Any) -> tuple[dict[str, np.ndarray], str]:
    """Decode an Open Inference Protocol JSON request body into arrays and its request id."""
    if not isinstance(body, Mapping):
        raise TensorError("request body must be a JSON object with an 'inputs' list")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise TensorError("request body must have a non-empty 'inputs' list")
    request_id = body.get("id", "")
    if not isinstance(request_id, str):
        raise TensorError("'id' must be a string")
    arrays: dict[str, np.ndarray] = {}
    for i, tensor in enumerate(inputs):
        if not isinstance(tensor, Mapping):
            raise TensorError(f"inputs[{i}] must be an object with name, datatype, shape and data")
        name = tensor.get("name")
        if not isinstance(name, str) or not name:
            raise TensorError(f"inputs[{i}].name must be a non-empty string")
        if name in arrays:
            raise TensorError(f"input '{name}' is given twice")
        datatype = tensor.get("datatype")
        if not isinstance(datatype, str) or datatype not in _DTYPES:
            raise TensorError(f"input '{name}': datatype {datatype!r} is not one of {', '.join(_DTYPES)}")
        shape = tensor.get("shape")
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) for d in shape
        ):
            raise TensorError(f"input '{name}': shape must be a list of integers")
        parameters = tensor.get("parameters") or {}
        if isinstance(parameters, Mapping) and "binary_data_size" in parameters:
            raise TensorError(f"input '{name}': the binary tensor data extension is not supported yet")
        if "data" not in tensor:
            raise TensorError(f"input '{name}': missing 'data'")
        arrays[name] = _json_array(name, datatype, tuple(shape), tensor["data"])
    return arrays, request_id


def _json_values(array: np.ndarray) -> list[Any]:
    flat = array.reshape(-1)
    if datatype_of(array) == "BYTES":
        return [_as_bytes(v).decode("utf-8", errors="replace") for v in flat]
    values: list[Any] = flat.tolist()
    return values


def encode_json_response(
    model_name: str, arrays: Mapping[str, np.ndarray], *, request_id: str = "", model_version: str = ""
) -> dict[str, Any]:
    response: dict[str, Any] = {"model_name": model_name}
    if model_version:
        response["model_version"] = model_version
    if request_id:
        response["id"] = request_id
    response["outputs"] = [
        {"name": name, "datatype": datatype_of(a), "shape": list(a.shape), "data": _json_values(a)}
        for name, a in arrays.items()
    ]
    return response


# -- Hydro's plain form: {"input_name": nested list} ----------------------------------------------


def decode_plain_request(body: Any, signature: Signature) -> dict[str, np.ndarray]:
    """Decode `{"name": nested list}` taking each input's datatype from the signature."""
    if not isinstance(body, Mapping) or not body:
        raise TensorError(
            "request body must be a JSON object of inputs, e.g. {"
            + ", ".join(f'"{s.name}": [...]' for s in signature.inputs)
            + "}"
        )
    specs = {spec.name: spec for spec in signature.inputs}
    arrays: dict[str, np.ndarray] = {}
    for name, value in body.items():
        spec = specs.get(name)
        if spec is None:
            raise TensorError(f"unexpected input '{name}': the inputs are {', '.join(specs)}")
        try:
            shape = np.shape(value)
        except ValueError:
            raise TensorError(
                f"input '{name}': nested lists are ragged (rows of different lengths)"
            ) from None
        arrays[name] = _json_array(name, spec.datatype, tuple(shape), value)
    return arrays


def encode_plain_response(arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, array in arrays.items():
        if datatype_of(array) == "BYTES":
            out[name] = np.array(_json_values(array), dtype=object).reshape(array.shape).tolist()
        else:
            out[name] = array.tolist()
    return out

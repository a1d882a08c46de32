"""Tensor codecs: Open Inference Protocol gRPC and JSON <-> numpy, and Hydro's plain JSON form.

Arrays of datatype BYTES are numpy object arrays holding `bytes`. Raw contents follow the
protocol: fixed-size elements little-endian and packed; each BYTES element is a 4-byte
little-endian length followed by its bytes.

The binary tensor data extension of the REST protocol uses the same raw form: a body is a JSON header
(its length in the `Inference-Header-Content-Length` HTTP header) followed by the raw data of the
inputs that carry `parameters.binary_data_size`, in input order. Answers put the outputs asked for in
binary (`binary_data` per output, or `binary_data_output` for the whole request) after the JSON header
the same way.
"""

from __future__ import annotations

import struct
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
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


_SHARED_MEMORY = "shared_memory_region"
"""The parameter of Triton's shared-memory extension, which Hydro does not offer (tensors travel in the
request: its replicas do not share memory with callers)."""


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


def _from_raw(raw: bytes | memoryview, datatype: str, shape: tuple[int, ...], name: str) -> np.ndarray:
    count = _element_count(shape, name)
    if datatype != "BYTES":
        dtype = numpy_dtype(datatype)
        if len(raw) != count * dtype.itemsize:
            raise TensorError(
                f"tensor '{name}': raw data has {len(raw)} bytes, shape {list(shape)} of {datatype} "
                f"needs {count * dtype.itemsize}"
            )
        return np.frombuffer(raw, dtype=dtype).reshape(shape)
    values: list[bytes | memoryview] = []
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
        if _SHARED_MEMORY in tensor.parameters:
            raise TensorError(f"tensor '{name}': shared memory ({_SHARED_MEMORY}) is not supported")
        shape = tuple(int(d) for d in tensor.shape)
        if raw_contents:
            arrays[name] = _from_raw(raw_contents[i], tensor.datatype, shape, name)
        else:
            arrays[name] = _from_contents(tensor.contents, tensor.datatype, shape, name)
    return arrays


def decode_infer_request(request: pb.ModelInferRequest) -> dict[str, np.ndarray]:
    return _decode_tensors(request.inputs, request.raw_input_contents, "request")


# Datatypes whose typed contents field holds exactly their values (the narrower integers travel in
# wider fields, and a value out of their range fails only when decoded).
_EXACT_CONTENTS = frozenset({"BOOL", "INT32", "INT64", "UINT32", "UINT64", "FP32", "FP64", "BYTES"})


def fits(request: pb.ModelInferRequest, signature: Signature) -> bool:
    """Whether `request`'s inputs decode (`decode_infer_request`) into arrays that `signature` takes,
    told from the message alone, without building the arrays (a router forwards the message as is).

    False means only "not sure": decode and check to find out what is wrong. BYTES and FP16 raw contents
    and the narrow integers are always left to that.
    """
    inputs = request.inputs
    specs = signature.inputs
    if len(inputs) != len(specs):
        return False
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
        if datatype != spec.datatype or len(shape) != len(spec.shape):
            return False
        count = 1
        for want, have in zip(spec.shape, shape, strict=True):
            if have < 0 or (want != -1 and want != have):
                return False
            count *= have
        if _SHARED_MEMORY in tensor.parameters:
            return False
        if raw:
            if datatype == "BYTES" or len(raw[i]) != count * _DTYPES[datatype].itemsize:
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


def decode_json_request(body: Any, *, binary: bytes | None = None) -> tuple[dict[str, np.ndarray], str]:
    """Decode an Open Inference Protocol JSON request body into arrays and its request id.

    `binary` is what followed the JSON header of a binary tensor data request (None when the request
    had no `Inference-Header-Content-Length`): inputs with `parameters.binary_data_size` take their raw
    data from it in order, and it must be used up exactly.
    """
    if not isinstance(body, Mapping):
        raise TensorError("request body must be a JSON object with an 'inputs' list")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise TensorError("request body must have a non-empty 'inputs' list")
    request_id = body.get("id", "")
    if not isinstance(request_id, str):
        raise TensorError("'id' must be a string")
    arrays: dict[str, np.ndarray] = {}
    offset = 0
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
        parameters = tensor.get("parameters")
        if parameters is not None and not isinstance(parameters, Mapping):
            raise TensorError(f"input '{name}': 'parameters' must be an object")
        if _SHARED_MEMORY in (parameters or {}):
            raise TensorError(f"input '{name}': shared memory ({_SHARED_MEMORY}) is not supported")
        size = (parameters or {}).get("binary_data_size")
        if size is None:
            if "data" not in tensor:
                raise TensorError(f"input '{name}': missing 'data' (or parameters.binary_data_size)")
            arrays[name] = _json_array(name, datatype, tuple(shape), tensor["data"])
            continue
        if "data" in tensor:
            raise TensorError(f"input '{name}': give either 'data' or parameters.binary_data_size, not both")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise TensorError(f"input '{name}': parameters.binary_data_size must be a non-negative integer")
        if binary is None:
            raise TensorError(
                f"input '{name}' has parameters.binary_data_size but the request has no "
                "Inference-Header-Content-Length header (binary tensor data extension)"
            )
        if offset + size > len(binary):
            raise TensorError(
                f"input '{name}': binary_data_size {size} runs past the end of the binary data "
                f"({len(binary) - offset} bytes left)"
            )
        arrays[name] = _from_raw(memoryview(binary)[offset : offset + size], datatype, tuple(shape), name)
        offset += size
    if binary is not None and offset != len(binary):
        raise TensorError(
            f"the request carries {len(binary)} bytes of binary data after its JSON header, but the inputs' "
            f"binary_data_size add up to {offset}"
        )
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
    response, _ = encode_binary_response(
        model_name, arrays, (), request_id=request_id, model_version=model_version
    )
    return response


@dataclass(frozen=True)
class RequestedOutputs:
    """What a JSON request asks of the answer: which outputs, and which of them as binary data."""

    names: tuple[str, ...] = ()
    """The outputs asked for, in order; empty means all of them."""
    binary: Mapping[str, bool] = field(default_factory=dict)
    """Per-output `parameters.binary_data`, overriding `binary_default`."""
    binary_default: bool = False
    """The request's `parameters.binary_data_output`."""

    def is_binary(self, name: str) -> bool:
        return self.binary.get(name, self.binary_default)


def decode_json_outputs(body: Any) -> RequestedOutputs:
    """The `outputs` and `parameters.binary_data_output` of an OIP JSON request (`body` a JSON object)."""
    if not isinstance(body, Mapping):
        raise TensorError("request body must be a JSON object with an 'inputs' list")
    parameters = body.get("parameters")
    if parameters is not None and not isinstance(parameters, Mapping):
        raise TensorError("'parameters' must be an object")
    binary_default = (parameters or {}).get("binary_data_output", False)
    if not isinstance(binary_default, bool):
        raise TensorError("parameters.binary_data_output must be true or false")
    outputs = body.get("outputs")
    if outputs is None:
        return RequestedOutputs(binary_default=binary_default)
    if not isinstance(outputs, list):
        raise TensorError("'outputs' must be a list of objects with a 'name'")
    names: list[str] = []
    binary: dict[str, bool] = {}
    for i, output in enumerate(outputs):
        name = output.get("name") if isinstance(output, Mapping) else None
        if not isinstance(name, str) or not name:
            raise TensorError(f"outputs[{i}].name must be a non-empty string")
        if name in names:
            raise TensorError(f"output '{name}' is asked for twice")
        names.append(name)
        wanted = output.get("parameters")
        if wanted is None:
            continue
        if not isinstance(wanted, Mapping):
            raise TensorError(f"output '{name}': 'parameters' must be an object")
        if "binary_data" in wanted:
            if not isinstance(wanted["binary_data"], bool):
                raise TensorError(f"output '{name}': parameters.binary_data must be true or false")
            binary[name] = wanted["binary_data"]
    return RequestedOutputs(tuple(names), binary, binary_default)


def encode_binary_response(
    model_name: str,
    arrays: Mapping[str, np.ndarray],
    binary: Collection[str],
    *,
    request_id: str = "",
    model_version: str = "",
) -> tuple[dict[str, Any], bytes]:
    """An OIP JSON answer whose outputs named in `binary` travel as raw data after the JSON header.

    Returns the header (those outputs carry `parameters.binary_data_size` instead of `data`) and the
    raw data to send after it, in output order.
    """
    response: dict[str, Any] = {"model_name": model_name}
    if model_version:
        response["model_version"] = model_version
    if request_id:
        response["id"] = request_id
    outputs: list[dict[str, Any]] = []
    parts: list[bytes] = []
    for name, array in arrays.items():
        datatype = datatype_of(array)
        output: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if name in binary:
            raw = _to_raw(array, datatype)
            output["parameters"] = {"binary_data_size": len(raw)}
            parts.append(raw)
        else:
            output["data"] = _json_values(array)
        outputs.append(output)
    response["outputs"] = outputs
    return response, b"".join(parts)


def encode_binary_request(
    arrays: Mapping[str, np.ndarray], *, request_id: str = "", binary_output: bool = True
) -> tuple[dict[str, Any], bytes]:
    """An OIP JSON request with every input as binary data: the header and the raw data after it."""
    request: dict[str, Any] = {}
    if request_id:
        request["id"] = request_id
    inputs: list[dict[str, Any]] = []
    parts: list[bytes] = []
    for name, array in arrays.items():
        datatype = datatype_of(array)
        raw = _to_raw(array, datatype)
        inputs.append(
            {
                "name": name,
                "datatype": datatype,
                "shape": list(array.shape),
                "parameters": {"binary_data_size": len(raw)},
            }
        )
        parts.append(raw)
    request["inputs"] = inputs
    if binary_output:
        request["parameters"] = {"binary_data_output": True}
    return request, b"".join(parts)


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

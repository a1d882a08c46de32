"""Open Inference Protocol REST JSON bodies <-> numpy arrays.

Inputs may carry their data as raw bytes after the JSON header (the binary tensor data extension,
`wire.oip_binary`); `decode_json_request` takes those bytes too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wire.datatypes import NUMPY_DTYPES, TensorError, as_bytes, bytes_array, datatype_of, element_count
from wire.limits import TensorLimits
from wire.raw_contents import SHARED_MEMORY, from_raw


def _flatten(data: Any, depth: int, name: str) -> list[Any]:
    """The values of `data` (nested lists), which may nest `depth` lists deep at most."""
    if isinstance(data, list):
        if depth == 0:
            raise TensorError(f"input '{name}': data is nested deeper than its shape's dimensions")
        out: list[Any] = []
        for item in data:
            out.extend(_flatten(item, depth - 1, name))
        return out
    return [data]


def json_array(name: str, datatype: str, shape: tuple[int, ...], data: Any) -> np.ndarray:
    """The array of JSON `data`, flat or nested along `shape` (never deeper)."""
    count = element_count(shape, name)
    values = _flatten(data, max(len(shape), 1), name)
    if len(values) != count:
        raise TensorError(f"input '{name}': {len(values)} values given, shape {list(shape)} needs {count}")
    if datatype == "BYTES":
        if not all(isinstance(v, str) for v in values):
            raise TensorError(f"input '{name}': BYTES data must be strings")
        return bytes_array(values, shape)
    dtype = NUMPY_DTYPES[datatype]
    if datatype == "BOOL":
        if not all(isinstance(v, bool) for v in values):
            raise TensorError(f"input '{name}': BOOL data must be true or false")
    elif not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise TensorError(f"input '{name}': {datatype} data must be numbers")
    elif dtype.kind in "iu" and not all(isinstance(v, int) or float(v).is_integer() for v in values):
        raise TensorError(f"input '{name}': {datatype} data must be whole numbers")
    try:
        if dtype.kind == "f" and dtype.itemsize < 8:
            # A number beyond FP16/FP32's range would become infinity, with only a RuntimeWarning.
            with np.errstate(over="raise"):
                return np.array(values, dtype=dtype).reshape(shape)
        return np.array(values, dtype=dtype).reshape(shape)
    except (OverflowError, ValueError, FloatingPointError) as exc:
        raise TensorError(f"input '{name}': data does not fit {datatype}: {exc}") from None


def decode_json_request(
    body: Any, *, binary: bytes | None = None, limits: TensorLimits | None = None
) -> tuple[dict[str, np.ndarray], str]:
    """Decode an Open Inference Protocol JSON request body into arrays and its request id.

    `binary` is what followed the JSON header of a binary tensor data request (None when the request
    had no `Inference-Header-Content-Length`): inputs with `parameters.binary_data_size` take their raw
    data from it in order, and it must be used up exactly. `limits`: checked before any array is built
    (the outputs asked for count among the tensors).
    """
    if not isinstance(body, Mapping):
        raise TensorError("request body must be a JSON object with an 'inputs' list")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise TensorError("request body must have a non-empty 'inputs' list")
    request_id = body.get("id", "")
    if not isinstance(request_id, str):
        raise TensorError("'id' must be a string")
    if limits is not None:
        outputs = body.get("outputs")
        limits.check_count(len(inputs) + (len(outputs) if isinstance(outputs, list) else 0))
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    total = 0
    for i, tensor in enumerate(inputs):
        if not isinstance(tensor, Mapping):
            raise TensorError(f"inputs[{i}] must be an object with name, datatype, shape and data")
        name = tensor.get("name")
        if not isinstance(name, str) or not name:
            raise TensorError(f"inputs[{i}].name must be a non-empty string")
        if name in arrays:
            raise TensorError(f"input '{name}' is given twice")
        datatype = tensor.get("datatype")
        if not isinstance(datatype, str) or datatype not in NUMPY_DTYPES:
            raise TensorError(
                f"input '{name}': datatype {datatype!r} is not one of {', '.join(NUMPY_DTYPES)}"
            )
        shape = tensor.get("shape")
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) for d in shape
        ):
            raise TensorError(f"input '{name}': shape must be a list of integers")
        if limits is not None:
            total = limits.add(name, shape, total)
        parameters = tensor.get("parameters")
        if parameters is not None and not isinstance(parameters, Mapping):
            raise TensorError(f"input '{name}': 'parameters' must be an object")
        if SHARED_MEMORY in (parameters or {}):
            raise TensorError(f"input '{name}': shared memory ({SHARED_MEMORY}) is not supported")
        size = (parameters or {}).get("binary_data_size")
        if size is None:
            if "data" not in tensor:
                raise TensorError(f"input '{name}': missing 'data' (or parameters.binary_data_size)")
            arrays[name] = json_array(name, datatype, tuple(shape), tensor["data"])
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
        arrays[name] = from_raw(memoryview(binary)[offset : offset + size], datatype, tuple(shape), name)
        offset += size
    if binary is not None and offset != len(binary):
        raise TensorError(
            f"the request carries {len(binary)} bytes of binary data after its JSON header, but the inputs' "
            f"binary_data_size add up to {offset}"
        )
    return arrays, request_id


def json_values(array: np.ndarray) -> list[Any]:
    flat = array.reshape(-1)
    if datatype_of(array) == "BYTES":
        return [as_bytes(v).decode("utf-8", errors="replace") for v in flat]
    values: list[Any] = flat.tolist()
    return values


def response_head(model_name: str, *, request_id: str = "", model_version: str = "") -> dict[str, Any]:
    """An answer's fields before its outputs."""
    response: dict[str, Any] = {"model_name": model_name}
    if model_version:
        response["model_version"] = model_version
    if request_id:
        response["id"] = request_id
    return response


def output_head(name: str, array: np.ndarray) -> dict[str, Any]:
    """An output's name, datatype and shape (its `data` or binary size is the caller's to add)."""
    return {"name": name, "datatype": datatype_of(array), "shape": list(array.shape)}


def encode_json_response(
    model_name: str, arrays: Mapping[str, np.ndarray], *, request_id: str = "", model_version: str = ""
) -> dict[str, Any]:
    response = response_head(model_name, request_id=request_id, model_version=model_version)
    response["outputs"] = [
        output_head(name, array) | {"data": json_values(array)} for name, array in arrays.items()
    ]
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

"""The binary tensor data extension of the OIP REST protocol, for answers and for clients' requests.

A body is a JSON header (its length in the `Inference-Header-Content-Length` HTTP header) followed by
the raw data (`wire.raw_contents`) of the tensors that carry `parameters.binary_data_size`, in order.
Answers put the outputs asked for in binary (`binary_data` per output, or `binary_data_output` for the
whole request) after the JSON header the same way. Decoding a request is `wire.oip_json`'s.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import numpy as np

from wire.datatypes import datatype_of
from wire.oip_json import json_values, output_head, response_head
from wire.raw_contents import to_raw

HEADER_LENGTH = "Inference-Header-Content-Length"


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
    response = response_head(model_name, request_id=request_id, model_version=model_version)
    outputs: list[dict[str, Any]] = []
    parts: list[bytes] = []
    for name, array in arrays.items():
        output = output_head(name, array)
        if name in binary:
            raw = to_raw(array, output["datatype"])
            output["parameters"] = {"binary_data_size": len(raw)}
            parts.append(raw)
        else:
            output["data"] = json_values(array)
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
        raw = to_raw(array, datatype)
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

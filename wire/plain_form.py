"""Hydro's plain JSON form: `{"input_name": nested list}`, each input's datatype from the signature."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from wire.datatypes import MAX_RANK, TensorError, datatype_of
from wire.limits import TensorLimits
from wire.oip_json import json_array, json_values
from wire.signature import Signature


def decode_plain_request(
    body: Any, signature: Signature, limits: TensorLimits | None = None
) -> dict[str, np.ndarray]:
    """Decode `{"name": nested list}` taking each input's datatype from the signature (and each shape
    from the nesting, checked against `limits` before the input's array is built)."""
    if not isinstance(body, Mapping) or not body:
        raise TensorError(
            "request body must be a JSON object of inputs, e.g. {"
            + ", ".join(f'"{s.name}": [...]' for s in signature.inputs)
            + "}"
        )
    if limits is not None:
        limits.check_count(len(body))
    specs = {spec.name: spec for spec in signature.inputs}
    arrays: dict[str, np.ndarray] = {}
    total = 0
    for name, value in body.items():
        spec = specs.get(name)
        if spec is None:
            raise TensorError(f"unexpected input '{name}': the inputs are {', '.join(specs)}")
        try:
            shape = np.shape(value)
        except ValueError:
            raise TensorError(
                f"input '{name}': nested lists are ragged (rows of different lengths) or nested more than "
                f"{MAX_RANK} deep"
            ) from None
        if limits is not None:
            total = limits.add(name, shape, total)
        arrays[name] = json_array(name, spec.datatype, tuple(shape), value)
    return arrays


def encode_plain_response(arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, array in arrays.items():
        if datatype_of(array) == "BYTES":
            out[name] = np.array(json_values(array), dtype=object).reshape(array.shape).tolist()
        else:
            out[name] = array.tolist()
    return out

"""The JSON invoke bodies every edge that carries bytes reads and writes: the Open Inference Protocol
JSON request and answer, and the plain form (`{"input_name": nested list}` both ways).

The HTTP edge (`router.http_forms`, which adds the binary tensor data extension and its header) and the
Kafka edge (`router.kafka_messages`) both go through these functions, so a body means the same on both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

from router.errors import InvalidInputError
from router.invocation import Inputs
from wire import oip_json, plain_form
from wire.limits import TensorLimits
from wire.signature import Signature


def parse_json(data: bytes, what: str) -> Any:
    """`data` as JSON; InvalidInputError naming `what` when it is not."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"{what} is not valid JSON: {exc}") from None


def oip_inputs(parsed: Any, limits: TensorLimits, binary: bytes | None = None) -> Inputs:
    """An OIP JSON request (parsed; `binary`: the bytes after its header, if any) as `Inputs`."""
    arrays, body_id = oip_json.decode_json_request(parsed, binary=binary, limits=limits)
    return Inputs(arrays, body_id, oip_json.decode_json_outputs(parsed))


def plain_inputs(parsed: Any, signature: Signature, limits: TensorLimits) -> Inputs:
    """A plain-form request (parsed) as `Inputs`: its names and shapes are read by `signature`."""
    return Inputs(plain_form.decode_plain_request(parsed, signature, limits))


def oip_answer(application: str, outputs: Mapping[str, np.ndarray], inputs: Inputs, version: str) -> bytes:
    """The OIP JSON answer (every output as JSON data), echoing the request's `id`."""
    return orjson.dumps(
        oip_json.encode_json_response(
            application, outputs, request_id=inputs.request_id, model_version=version
        )
    )


def plain_answer(outputs: Mapping[str, np.ndarray]) -> bytes:
    return orjson.dumps(plain_form.encode_plain_response(outputs))

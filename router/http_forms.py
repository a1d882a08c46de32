"""The bodies the HTTP edge reads and writes: Open Inference Protocol JSON (with the binary tensor data
extension) and the plain form, and the OIP model metadata document.

The JSON bodies themselves are `router.bodies`' (shared with the Kafka edge). The binary extension
puts raw tensor bytes after a JSON header whose length is the `Inference-Header-Content-Length` header,
both ways (see `wire.oip_binary`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response

from router.bodies import oip_answer, oip_inputs, parse_json, plain_answer, plain_inputs
from router.errors import InvalidInputError
from router.invocation import Inputs
from wire import oip_binary
from wire.limits import TensorLimits
from wire.signature import Signature, TensorSpec

HEADER_LENGTH = "Inference-Header-Content-Length"


@dataclass(frozen=True)
class Form:
    """How one kind of invoke body is read (given the signature) and its answer written."""

    decode: Callable[[Request, bytes, Signature, TensorLimits], Inputs]
    encode: Callable[[str, Mapping[str, np.ndarray], Inputs, str], Response]
    """(application, outputs, inputs, version asked for) -> the answer."""


def json_response(content: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content), status_code=status, headers=headers, media_type="application/json")


def length_of(header: str) -> int | None:
    """A length header's value (ASCII digits only, at most 18 of them), else None."""
    if header.isascii() and header.isdigit() and len(header) <= 18:
        return int(header)
    return None


def decode_oip(request: Request, body: bytes, signature: Signature, limits: TensorLimits) -> Inputs:
    binary: bytes | None = None
    header_length = request.headers.get(HEADER_LENGTH)
    if header_length is not None:
        length = length_of(header_length)
        if length is None or length > len(body):
            raise InvalidInputError(
                f"{HEADER_LENGTH} header {header_length[:40]!r} is not a length within the "
                f"{len(body)}-byte body"
            )
        body, binary = body[:length], body[length:]
    parsed = parse_json(body, "the JSON header" if binary is not None else "request body")
    return oip_inputs(parsed, limits, binary)


def encode_oip(application: str, outputs: Mapping[str, np.ndarray], inputs: Inputs, version: str) -> Response:
    binary = [name for name in outputs if inputs.outputs.is_binary(name)]
    if not binary:
        return Response(oip_answer(application, outputs, inputs, version), media_type="application/json")
    header, data = oip_binary.encode_binary_response(
        application, outputs, binary, request_id=inputs.request_id, model_version=version
    )
    head = orjson.dumps(header)
    return Response(
        head + data, media_type="application/octet-stream", headers={HEADER_LENGTH: str(len(head))}
    )


def decode_plain(request: Request, body: bytes, signature: Signature, limits: TensorLimits) -> Inputs:
    return plain_inputs(parse_json(body, "request body"), signature, limits)


def encode_plain(
    application: str, outputs: Mapping[str, np.ndarray], inputs: Inputs, version: str
) -> Response:
    return Response(plain_answer(outputs), media_type="application/json")


OIP = Form(decode_oip, encode_oip)
PLAIN = Form(decode_plain, encode_plain)


def metadata(application: str, signature: Signature, versions: list[str]) -> dict[str, Any]:
    """Open Inference Protocol model metadata of an application (`versions`: see `check_version`)."""

    def tensor(spec: TensorSpec) -> dict[str, Any]:
        return {"name": spec.name, "datatype": spec.datatype, "shape": list(spec.shape)}

    return {
        "name": application,
        "versions": versions,
        "platform": "hydro",
        "inputs": [tensor(spec) for spec in signature.inputs],
        "outputs": [tensor(spec) for spec in signature.outputs],
    }

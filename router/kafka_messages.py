"""Kafka records as invokes: reading a request message, writing its answer and its error record.

A request's value is an Open Inference Protocol JSON request (`{"inputs": [...]}`) or the plain form
(`{"input_name": nested list}`), read by the same functions as the HTTP edge's bodies
(`router.bodies`); a value is taken for OIP when it has an `inputs` key, unless the application itself
has an input named `inputs` and the value is not a list of tensor objects. The answer is written in the
form the request came in (OIP answers as JSON data; the binary tensor data extension is HTTP's only).

Headers: the answer and the error record carry the request's headers, with `x-request-id` set to the
invoke's request id (the caller's when it is sane, else a new one: the same id as in the router's
request line and in Sonar's sample). An error record also carries `x-hydro-error` (the message naming
the problem), `x-hydro-error-code` (the error's reason, as in the router's metrics) and the request's
`x-hydro-source-partition` and `x-hydro-source-offset`. A message may carry `authorization: Bearer
<invoke key>` for an application that requires one.
"""

from __future__ import annotations

from typing import Any, Protocol

from router.bodies import oip_answer, oip_inputs, parse_json, plain_answer, plain_inputs
from router.errors import InvalidInputError
from router.invocation import Answer, Inputs
from router.request_log import REQUEST_ID_KEY, request_id_from
from wire.limits import TensorLimits
from wire.signature import Signature

Headers = list[tuple[str, bytes]]

ERROR = "x-hydro-error"
ERROR_CODE = "x-hydro-error-code"
SOURCE_PARTITION = "x-hydro-source-partition"
SOURCE_OFFSET = "x-hydro-source-offset"
AUTHORIZATION = "authorization"
MAX_ERROR_HEADER_BYTES = 4096
"""A longer problem is cut here (a header is no place for a whole model traceback)."""


class Record(Protocol):
    """What the edge reads of a consumed record (aiokafka's `ConsumerRecord`)."""

    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Any: ...


def _text(value: bytes | None) -> str:
    return (value or b"").decode("utf-8", errors="replace")


class Message:
    """One request record as the data plane reads it (`decode`) and the edge answers it (`reply`)."""

    __slots__ = ("record", "headers", "request_id", "refused_id", "authorization", "oip")

    def __init__(self, record: Record) -> None:
        self.record = record
        self.headers: Headers = list(record.headers or ())
        given: str | None = None
        self.authorization: str | None = None
        for name, value in self.headers:
            lowered = name.lower()
            if lowered == REQUEST_ID_KEY:
                given = _text(value)
            elif lowered == AUTHORIZATION:
                self.authorization = _text(value)
        self.request_id, self.refused_id = request_id_from(given)
        self.oip = True

    async def decode(self, signature: Signature, limits: TensorLimits) -> Inputs:
        value = self.record.value
        if value is None:
            raise InvalidInputError("the message has no value: send an OIP JSON request or the plain form")
        parsed = parse_json(value, "message value")
        self.oip = _is_oip(parsed, signature)
        if self.oip:
            return oip_inputs(parsed, limits)
        return plain_inputs(parsed, signature, limits)

    async def reply(self, answer: Answer) -> bytes:
        assert answer.outputs is not None and answer.inputs is not None
        if self.oip:
            return oip_answer(answer.response.model_name, answer.outputs, answer.inputs, "")
        return plain_answer(answer.outputs)

    def answer_headers(self) -> Headers:
        """The request's headers, with `x-request-id` the invoke's."""
        kept = [(name, value) for name, value in self.headers if name.lower() != REQUEST_ID_KEY]
        kept.append((REQUEST_ID_KEY, self.request_id.encode()))
        return kept

    def error_headers(self, problem: str, code: str) -> Headers:
        """The answer's headers plus what went wrong and where the request was read."""
        record = self.record
        return [
            *self.answer_headers(),
            (ERROR, problem.encode()[:MAX_ERROR_HEADER_BYTES]),
            (ERROR_CODE, code.encode()),
            (SOURCE_PARTITION, str(record.partition).encode()),
            (SOURCE_OFFSET, str(record.offset).encode()),
        ]


def _is_oip(parsed: Any, signature: Signature) -> bool:
    if not isinstance(parsed, dict) or "inputs" not in parsed:
        return False
    if any(spec.name == "inputs" for spec in signature.inputs):
        tensors = parsed["inputs"]
        return isinstance(tensors, list) and bool(tensors) and all(isinstance(t, dict) for t in tensors)
    return True
